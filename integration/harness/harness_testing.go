package harness

import (
	"context"
	"testing"
	"time"
)

// tailOnFailure is how many lines of a server's log a failed test prints.
const tailOnFailure = 40

// MariaDBT starts a MariaDB server for t and closes it when t ends. It fails
// the test (never skips it) when the server cannot start: in CI a missing
// server is a failure. When t has failed, the tail of the server's error log
// is printed before the server is removed.
func MariaDBT(t testing.TB, opts MariaDBOptions) *MariaDB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, err := StartMariaDB(ctx, opts)
	if err != nil {
		t.Fatalf("start mariadb: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tail of mariadb error log %s:\n%s", m.ErrorLog(), logTail(m.ErrorLog(), tailOnFailure))
		}
		if err := m.Close(); err != nil {
			t.Errorf("close mariadb: %v", err)
		}
	})
	return m
}

// PostgresT starts a PostgreSQL server for t and closes it when t ends. It
// fails the test (never skips it) when the server cannot start. When t has
// failed, the tail of the server's log is printed before the server is
// removed.
func PostgresT(t testing.TB, opts PostgresOptions) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := StartPostgres(ctx, opts)
	if err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tail of postgres log %s:\n%s", p.ServerLog(), logTail(p.ServerLog(), tailOnFailure))
		}
		if err := p.Close(); err != nil {
			t.Errorf("close postgres: %v", err)
		}
	})
	return p
}

// KafkaT starts an in-process Kafka broker for t and closes it when t ends.
// It fails the test when the broker cannot start.
func KafkaT(t testing.TB, opts KafkaOptions) *Kafka {
	t.Helper()
	k, err := StartKafka(opts)
	if err != nil {
		t.Fatalf("start kafka: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

// S3T starts a versitygw S3 server for t and closes it when t ends. It
// fails the test (never skips it) when the server cannot start. When t has
// failed, the tail of the server's log is printed before the server is
// removed.
func S3T(t testing.TB, opts S3Options) *S3 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := StartS3(ctx, opts)
	if err != nil {
		t.Fatalf("start s3: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("tail of versitygw log %s:\n%s", s.Log(), logTail(s.Log(), tailOnFailure))
		}
		if err := s.Close(); err != nil {
			t.Errorf("close s3: %v", err)
		}
	})
	return s
}
