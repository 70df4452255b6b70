package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/connectors/postgres"
)

// finding is one checked prerequisite: ok, or what is wrong and its fix.
type finding struct {
	what string // what was checked, or what is wrong
	fix  string // empty when ok
}

// checkReport prints findings per file and remembers the worst outcome.
type checkReport struct {
	out      io.Writer
	code     int
	problems int
}

func (r *checkReport) file(path, what string) { fmt.Fprintf(r.out, "%s (%s)\n", path, what) }

func (r *checkReport) ok(format string, args ...any) {
	fmt.Fprintf(r.out, "  ok    %s\n", fmt.Sprintf(format, args...))
}

func (r *checkReport) fail(code int, f finding) {
	r.problems++
	r.code = max(r.code, code)
	fmt.Fprintf(r.out, "  FAIL  %s\n", f.what)
	if f.fix != "" {
		fmt.Fprintf(r.out, "        fix: %s\n", f.fix)
	}
}

// cmdCheck runs `tributary check -c FILE...`: it validates each source or
// lake config and every prerequisite it implies (the source server's
// settings, privileges, keys and types; Kafka reachability and
// permissions; the catalog and the warehouse), changing nothing, and
// prints each problem with its fix. Exit 0: all good; 2: a config is
// invalid; 3: a prerequisite is not met.
func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var files listFlag
	fs.Var(&files, "c", "source or lake config `file` (YAML); repeatable")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on each check's network calls")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	files = append(files, fs.Args()...)
	if len(files) == 0 {
		fmt.Fprintln(stderr, "tributary check: name at least one config with -c FILE")
		fs.Usage()
		return exitConfig
	}
	ctx, stop := signalContext(slog.New(slog.NewTextHandler(stderr, nil)))
	defer stop()
	rep := &checkReport{out: stdout}
	for _, path := range files {
		cctx, cancel := context.WithTimeout(ctx, *timeout)
		checkFile(cctx, rep, path)
		cancel()
	}
	if rep.problems == 0 {
		fmt.Fprintln(stdout, "all checks passed")
	} else {
		fmt.Fprintf(stdout, "%d problem(s) found\n", rep.problems)
	}
	return rep.code
}

// isSourceConfig tells a source config (it has a top-level type key) from
// a lake config.
func isSourceConfig(data []byte) bool {
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		return false
	}
	_, ok := top["type"]
	return ok
}

func checkFile(ctx context.Context, rep *checkReport, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		rep.file(path, "unreadable")
		rep.fail(exitConfig, finding{err.Error(), "pass the path of a source or lake config"})
		return
	}
	if isSourceConfig(data) {
		checkSourceFile(ctx, rep, path, data)
	} else {
		checkLakeFile(ctx, rep, path, data)
	}
}

func checkSourceFile(ctx context.Context, rep *checkReport, path string, data []byte) {
	cfg, err := config.ParseSource(path, data)
	if err != nil {
		rep.file(path, "source config")
		rep.fail(exitConfig, finding{"config: " + indent(err.Error()), "edit the keys named above (docs/config.md lists every key)"})
		return
	}
	rep.file(path, fmt.Sprintf("%s source %s", cfg.Type, cfg.Name))
	rep.ok("config")
	log := slog.New(slog.DiscardHandler)
	src, err := newSource(cfg, log, nil, false, nil)
	if err != nil {
		rep.fail(exitConfig, finding{err.Error(), "edit the source config"})
		return
	}
	var probs []finding
	switch s := src.(type) {
	case *mysql.Source:
		ps, cerr := s.Check(ctx)
		err = cerr
		for _, p := range ps {
			probs = append(probs, finding{p.What, p.Fix})
		}
	case *postgres.Source:
		ps, cerr := s.Check(ctx)
		err = cerr
		for _, p := range ps {
			probs = append(probs, finding{p.What, p.Fix})
		}
	}
	switch {
	case err != nil:
		rep.fail(exitSource, finding{"source: " + err.Error(), ""})
	case len(probs) == 0:
		rep.ok("source %s: server settings, privileges, keys and types of every captured table", cfg.Type)
	}
	for _, p := range probs {
		rep.fail(exitSource, finding{"source: " + p.what, p.fix})
	}
	if cfg.Kafka.UsesEmbeddedBroker() {
		rep.ok("kafka: none configured: only tributary run (embedded broker) can run this source")
		return
	}
	kopts, err := kafkaOpts(cfg.Kafka)
	if err != nil {
		rep.fail(exitConfig, finding{err.Error(), "fix kafka.tls / kafka.sasl"})
		return
	}
	for _, f := range checkKafka(ctx, cfg.Kafka.Brokers, kopts, cfg.Kafka.TopicPrefix, cfg.Kafka.TransactionalID) {
		if f.fix == "" {
			rep.ok("%s", f.what)
		} else {
			rep.fail(exitSource, f)
		}
	}
}

func checkLakeFile(ctx context.Context, rep *checkReport, path string, data []byte) {
	cfg, err := config.ParseLake(path, data)
	if err != nil {
		rep.file(path, "lake config")
		rep.fail(exitConfig, finding{"config: " + indent(err.Error()), "edit the keys named above (docs/config.md lists every key)"})
		return
	}
	rep.file(path, "lake config")
	rep.ok("config")
	if cfg.Kafka.UsesEmbeddedBroker() {
		rep.ok("kafka: embedded broker (tributary run), log in %s", cfg.Kafka.Embedded.Dir)
	} else {
		kopts, err := kafkaOpts(config.Kafka{TLS: cfg.Kafka.TLS, SASL: cfg.Kafka.SASL})
		if err != nil {
			rep.fail(exitConfig, finding{err.Error(), "fix kafka.tls / kafka.sasl"})
			return
		}
		for _, f := range checkKafka(ctx, cfg.Kafka.Brokers, kopts, "", "") {
			if f.fix == "" {
				rep.ok("%s", f.what)
			} else {
				rep.fail(exitSource, f)
			}
		}
	}
	lk := newLake(cfg, slog.New(slog.DiscardHandler))
	defer lk.Close()
	if err := lk.Check(ctx); err != nil {
		rep.fail(exitSource, finding{"lake: " + err.Error(), "see the key named in the message"})
		return
	}
	rep.ok("lake: catalog answers, warehouse %s takes writes (%s catalog)", warehouseName(cfg), cfg.Catalog.Kind)
}

// checkKafka checks that the brokers answer, that topics under prefix may
// be created, and that the transactional id may be used, without creating
// anything and without fencing a running reader.
func checkKafka(ctx context.Context, brokers []string, opts []kgo.Opt, prefix, txnID string) []finding {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return []finding{{fmt.Sprintf("kafka: %v", err), "fix kafka.brokers"}}
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		return []finding{{fmt.Sprintf("kafka at %v does not answer: %v", brokers, err),
			"check kafka.brokers, that the brokers run and are reachable from here, and kafka.tls / kafka.sasl"}}
	}
	out := []finding{{what: fmt.Sprintf("kafka: %v answers (%d topics visible)", brokers, len(topics))}}
	if prefix == "" {
		return out
	}
	probe := prefix + "._tributary_check"
	resp, err := adm.ValidateCreateTopics(ctx, 1, -1, nil, probe)
	if err == nil {
		err = resp[probe].Err
	}
	switch {
	case err == nil, errors.Is(err, kerr.TopicAlreadyExists):
		out = append(out, finding{what: fmt.Sprintf("kafka: may create topics %s.*", prefix)})
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
		out = append(out, finding{fmt.Sprintf("kafka: may not create topics %s.* (%v)", prefix, err),
			fmt.Sprintf("kafka-acls --add --allow-principal User:<reader> --operation Create --operation Write --operation Describe --resource-pattern-type prefixed --topic %s.  (or create the topics yourself)", prefix)})
	default:
		out = append(out, finding{fmt.Sprintf("kafka: cannot validate topic creation under %s (%v)", prefix, err), "check the brokers' logs"})
	}
	if txnID == "" {
		return out
	}
	dt, err := adm.DescribeTransactions(ctx, txnID)
	if err == nil {
		if d, ok := dt[txnID]; ok {
			err = d.Err
		}
	}
	switch {
	case err == nil, errors.Is(err, kerr.TransactionalIDNotFound):
		out = append(out, finding{what: fmt.Sprintf("kafka: may use transactional id %s", txnID)})
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		out = append(out, finding{fmt.Sprintf("kafka: may not use transactional id %s (%v)", txnID, err),
			fmt.Sprintf("kafka-acls --add --allow-principal User:<reader> --operation Write --operation Describe --transactional-id %s", txnID)})
	default:
		// Brokers older than 3.0 do not describe transactions; the reader
		// finds out when it starts.
		out = append(out, finding{what: fmt.Sprintf("kafka: transactional id %s not checked (%v)", txnID, err)})
	}
	return out
}

func warehouseName(cfg *config.Lake) string {
	if s := cfg.Warehouse.S3; s != nil {
		return "s3://" + s.Bucket + "/" + strings.Trim(s.Prefix, "/")
	}
	return cfg.Warehouse.Path
}

// indent puts each line after the first of a multi-line error under the
// FAIL line.
func indent(s string) string { return strings.ReplaceAll(s, "\n", "\n        ") }
