# Tributary. On a fresh Debian machine:
#   make demo   runs the pipeline on embedded defaults
#   make test   runs every test, unit and integration
# Both install what they need (Debian packages via scripts/install-deps.sh,
# Go modules via the module proxy).

GO        ?= go
BIN       := bin/tributary
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X main.Version=$(VERSION)
# The 2 cores are shared by the servers, the broker and the tests.
TESTFLAGS ?= -count=1 -timeout 15m -p 2

.PHONY: all deps build test test-unit test-integration vet demo bench bench-mysql bench-postgres bench-lake chaos fuzz fuzz-short clean

all: build

# versitygw is the S3 server of the integration tests (harness.StartS3).
VERSITYGW := github.com/versity/versitygw/cmd/versitygw@v1.8.0

deps:
	@scripts/install-deps.sh
	@$(GO) mod download
	@command -v versitygw >/dev/null || test -x "$$($(GO) env GOPATH)/bin/versitygw" || \
		{ echo "installing $(VERSITYGW) (several minutes on 2 cores)"; $(GO) install $(VERSITYGW); }

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/tributary

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || (echo "gofmt would change:"; gofmt -l .; exit 1)

test: deps vet
	$(GO) test $(TESTFLAGS) ./...
	@$(MAKE) --no-print-directory fuzz-short

# Fuzz targets as package:Func. `go test` runs their seed corpora
# (testdata/fuzz/) as plain tests; `make fuzz` fuzzes each for FUZZTIME;
# `make test` fuzzes the fast ones for FUZZ_SHORT_TIME executions each: a
# count, not a duration, since a short -fuzztime can run out while the
# fuzzer is still measuring the seed corpus on a fresh machine and then
# fails with "context deadline exceeded".
FUZZTIME    ?= 45s
FUZZ_SHORT_TIME ?= 3000x
FUZZ_SHORT  := ./config/:FuzzParseSource ./config/:FuzzParseLake ./schema/:FuzzDecodeValue ./schema/:FuzzDecodeEnvelope \
               ./connectors/mysql/:FuzzMySQLValue ./connectors/mysql/:FuzzBinlogRows ./connectors/postgres/:FuzzPGValue ./connectors/postgres/:FuzzParseChange
FUZZ_ALL    := $(FUZZ_SHORT) ./connectors/mysql/:FuzzParseMembers ./lake/compactor/:FuzzScanEnvelope ./lake/compactor/:FuzzScanValue

fuzz:
	@for t in $(FUZZ_ALL); do pkg=$${t%%:*}; fn=$${t##*:}; echo "fuzz $$fn in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -count=1 -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZ_ALL="$(FUZZ_SHORT)" FUZZTIME=$(FUZZ_SHORT_TIME)

test-unit:
	$(GO) test $(TESTFLAGS) -short ./config/ ./schema/ ./connectors/... ./lake/...

test-integration: deps
	$(GO) test $(TESTFLAGS) ./integration/...

demo: deps build
	$(BIN) demo

# The reader's binlog throughput against go-mysql's bare BinlogSyncer loop,
# and the snapshot rate of a large table. Sizes: BENCH_ROWS (snapshot table,
# default 5,000,000), BENCH_EVENTS (sysbench transactions, default 100,000).
bench-mysql: deps
	$(GO) test -count=1 -timeout 60m -run '^$$' -bench 'BenchmarkMySQL' -benchtime 1x ./integration/

# The PostgreSQL reader against pg_recvlogical over the same WAL backlog,
# the snapshot rate, and peak memory in a large transaction.
bench-postgres: deps
	$(GO) test -count=1 -timeout 60m -run '^$$' -bench 'BenchmarkPostgres' -benchtime 1x ./integration/

# The compactor's rows per CPU-second (inserts, half updates) next to
# iceberg-go's bare append of the same rows; then the lake's freshness
# (p50/p99 of source commit -> visible in the lake) under sysbench, with
# BENCH_COMMIT_INTERVAL (default 10s) for BENCH_FRESHNESS_DURATION (90s).
bench-lake: deps
	$(GO) test -count=1 -timeout 60m -run '^$$' -bench 'Benchmark(Compactor|Apply|BareAppend)' -benchtime 1x ./lake/...
	$(GO) test -count=1 -timeout 30m -run '^$$' -bench '^BenchmarkLakeFreshness$$' -benchtime 1x ./integration/

# The chaos test at full size: CHAOS_FAULTS faults (default 240) injected
# at random into the whole pipeline under load; CHAOS_SEED replays a run.
# `make test` runs the same test with a small budget.
chaos: deps
	CHAOS_FAULTS=$${CHAOS_FAULTS:-240} $(GO) test -count=1 -timeout 120m -run '^TestChaos$$' -v ./integration/

bench: bench-mysql bench-postgres bench-lake

clean:
	rm -rf bin
