package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

// tlsBlock is the YAML of a tls block, indented under mysql: or postgres:.
type tlsBlock struct {
	mode, ca, cert, key, serverName string
}

func (b tlsBlock) yaml() string {
	var s strings.Builder
	s.WriteString("  tls:\n    mode: " + b.mode + "\n")
	for _, kv := range [][2]string{{"ca_file", b.ca}, {"cert_file", b.cert}, {"key_file", b.key}, {"server_name", b.serverName}} {
		if kv[1] != "" {
			fmt.Fprintf(&s, "    %s: %q\n", kv[0], kv[1])
		}
	}
	return s.String()
}

// fullTLS is verify-full with the sandbox's CA and client certificate.
func fullTLS(c *harness.Certs) tlsBlock {
	return tlsBlock{mode: "verify-full", ca: c.CAFile, cert: c.ClientCertFile, key: c.ClientKeyFile}
}

// otherCA writes a CA (with its own client certificate) that did not sign
// the sandbox's certificates.
func otherCA(t *testing.T) *harness.Certs {
	t.Helper()
	c, err := harness.GenerateCerts(filepath.Join(t.TempDir(), "other"), "tributary")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeConfig(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// mysqlTLSConfig writes a source config with b as mysql.tls and, when
// given, kafkaTLS as kafka.tls.
func mysqlTLSConfig(t *testing.T, m *harness.MariaDB, k *harness.Kafka, name string, b tlsBlock, kafkaTLS ...tlsBlock) string {
	kb := ""
	for _, x := range kafkaTLS {
		kb += x.yaml()
	}
	return writeConfig(t, name, fmt.Sprintf(`name: %s
type: mysql
mysql:
  host: 127.0.0.1
  port: %d
  user: %s
  password: ${TEST_DB_PASSWORD}
  server_id: 204
  heartbeat_interval: 1s
  connect_timeout: 5s
%stables:
  include: ["shop.*"]
kafka:
  brokers: [%q]
  linger: 50ms
%s`, name, m.Port, m.User, b.yaml(), k.Addrs[0], kb))
}

func postgresTLSConfig(t *testing.T, p *harness.Postgres, k *harness.Kafka, name string, b tlsBlock) string {
	return writeConfig(t, name, fmt.Sprintf(`name: %s
type: postgres
postgres:
  host: 127.0.0.1
  port: %d
  user: %s
  password: ${TEST_DB_PASSWORD}
  database: %s
  heartbeat_interval: 1s
  connect_timeout: 5s
%stables:
  include: ["public.*"]
kafka:
  brokers: [%q]
  linger: 50ms
`, name, p.Port, p.User, p.Database, b.yaml(), k.Addrs[0]))
}

// stopReader sends SIGTERM and expects exit code 0.
func stopReader(t *testing.T, p *readerProcess) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code, out := waitExit(t, p); code != 0 {
		t.Errorf("reader exit code %d after SIGTERM:\n%s", code, out)
	}
}

// checkFlowed asserts that a table topic holds the snapshot's reads and the
// streamed changes.
func checkFlowed(t *testing.T, k *harness.Kafka, prefix string, id schema.TableID, reads, changes int) {
	t.Helper()
	topic := foldTopic(t, k, prefix, id)
	if topic.Reads != reads || topic.Changes < changes {
		t.Errorf("%s: %d snapshot reads and %d changes in Kafka, want %d and at least %d", id, topic.Reads, topic.Changes, reads, changes)
	}
}

// checkTLS runs `tributary check` on a source config and expects the exit
// code and words in its output.
func checkTLS(t *testing.T, cfgPath, password string, code int, want ...string) {
	t.Helper()
	cmd := exec.Command(binary, "check", "-c", cfgPath)
	cmd.Env = append(os.Environ(), "TEST_DB_PASSWORD="+password)
	out, err := cmd.CombinedOutput()
	got := 0
	if ee, ok := err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if got != code {
		t.Errorf("tributary check: exit code %d, want %d:\n%s", got, code, out)
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("tributary check does not say %q:\n%s", w, out)
		}
	}
}

// badTLSCase is a reader start that must fail at once, with an exit code
// and words in its output.
type badTLSCase struct {
	name string
	tls  tlsBlock
	code int
	want []string
}

func runBadTLS(t *testing.T, cfg func(name string, b tlsBlock) string, k *harness.Kafka, password string, cases []badTLSCase) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			p := startReaderProcess(t, cfg(tt.name, tt.tls), password)
			code, out := waitExit(t, p)
			t.Logf("exit code %d:\n%s", code, out)
			if code != tt.code {
				t.Errorf("exit code %d, want %d; output:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
			if cp := checkpointOf(t, k, tt.name, tt.name); cp != nil {
				t.Errorf("a checkpoint was written: %v", cp)
			}
		})
	}
}

// TestMySQLTLS runs the reader binary against a MariaDB whose reader account
// requires TLS with a client certificate (REQUIRE X509): with verify-full,
// the CA and the client certificate, the snapshot and streamed changes reach
// Kafka equal to the source, and with verify-ca too; `tributary check` passes
// with those settings and names the key on a wrong CA; a wrong CA (in both
// modes), a missing client certificate, a host name the certificate does
// not hold and a server without TLS each stop the reader at once, with
// exit code 3 and a message that names the fix.
func TestMySQLTLS(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{TLS: true})
	plain := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, "CREATE DATABASE shop",
		"CREATE TABLE shop.accounts (id BIGINT PRIMARY KEY, owner VARCHAR(64) NOT NULL, balance DECIMAL(12,2) NOT NULL)")
	for i := 1; i <= 200; i++ {
		execAll(t, m, fmt.Sprintf("INSERT INTO shop.accounts VALUES (%d, 'owner-%d', %d.25)", i, i, i))
	}
	cfg := func(name string, b tlsBlock) string { return mysqlTLSConfig(t, m, k, name, b) }

	t.Run("verify-full", func(t *testing.T) {
		p := startReaderProcess(t, cfg("mytls", fullTLS(m.Certs)), m.Password)
		waitCaughtUp(t, m, k, "mytls", "mytls", 60*time.Second)
		execAll(t, m,
			"INSERT INTO shop.accounts VALUES (1001, 'late', 1.00)",
			"UPDATE shop.accounts SET balance = balance + 1 WHERE id <= 10",
			"DELETE FROM shop.accounts WHERE id BETWEEN 11 AND 15")
		waitCaughtUp(t, m, k, "mytls", "mytls", 60*time.Second)
		stopReader(t, p)
		conn, err := m.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		id := schema.TableID{Database: "shop", Name: "accounts"}
		compareTable(t, conn, k, "mytls", id)
		checkFlowed(t, k, "mytls", id, 200, 16)
	})

	// verify-ca checks the chain without the host name (the reader's own
	// verification, since crypto/tls has no such mode).
	t.Run("verify-ca", func(t *testing.T) {
		b := fullTLS(m.Certs)
		b.mode = "verify-ca"
		p := startReaderProcess(t, cfg("mytlsca", b), m.Password)
		waitCaughtUp(t, m, k, "mytlsca", "mytlsca", 60*time.Second)
		stopReader(t, p)
		conn, err := m.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		compareTable(t, conn, k, "mytlsca", schema.TableID{Database: "shop", Name: "accounts"})
	})

	other := otherCA(t)
	t.Run("check", func(t *testing.T) {
		checkTLS(t, cfg("mycheck", fullTLS(m.Certs)), m.Password, 0, "all checks passed")
		checkTLS(t, cfg("mycheckbad", tlsBlock{mode: "verify-full", ca: other.CAFile, cert: m.Certs.ClientCertFile, key: m.Certs.ClientKeyFile}),
			m.Password, 3, "mysql.tls.ca_file")
	})
	runBadTLS(t, cfg, k, m.Password, []badTLSCase{
		{"verify-ca-wrong-ca", tlsBlock{mode: "verify-ca", ca: other.CAFile, cert: m.Certs.ClientCertFile, key: m.Certs.ClientKeyFile},
			3, []string{"certificate signed by unknown authority", "mysql.tls.ca_file"}},
		{"wrong-ca", tlsBlock{mode: "verify-full", ca: other.CAFile, cert: m.Certs.ClientCertFile, key: m.Certs.ClientKeyFile},
			3, []string{"certificate signed by unknown authority", "mysql.tls.ca_file"}},
		{"no-client-cert", tlsBlock{mode: "verify-full", ca: m.Certs.CAFile},
			3, []string{"access denied", "mysql.tls.cert_file"}},
		{"wrong-host", tlsBlock{mode: "verify-full", ca: m.Certs.CAFile, cert: m.Certs.ClientCertFile, key: m.Certs.ClientKeyFile, serverName: "db.example.com"},
			3, []string{"not valid for", "db.example.com", "mysql.tls.server_name"}},
	})
	// A server with TLS off, and a reader that requires it.
	runBadTLS(t, func(name string, b tlsBlock) string { return mysqlTLSConfig(t, plain, k, name, b) }, k, plain.Password, []badTLSCase{
		{"server-without-tls", tlsBlock{mode: "require"}, 3, []string{"does not support TLS", "mysql.tls.mode"}},
	})
}

// TestPostgresTLS runs the reader binary against a PostgreSQL server whose
// pg_hba.conf admits the reader role only over TLS with a client
// certificate (method cert), for the query and the replication connection:
// with verify-full, the CA and the client certificate, the snapshot and
// streamed changes reach Kafka equal to the source, and `tributary check`
// passes (and names the key without a client certificate); a wrong CA, a missing
// client certificate, one the server's CA did not sign, a host name the
// certificate does not hold and TLS turned off each stop the reader at
// once, with exit code 3 and a message that names the fix.
func TestPostgresTLS(t *testing.T) {
	p := harness.PostgresT(t, harness.PostgresOptions{TLS: true})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	pgExec(t, p,
		"CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL)",
		"ALTER TABLE accounts OWNER TO "+p.User,
		"INSERT INTO accounts SELECT g, 'owner-' || g, g + 0.25 FROM generate_series(1, 200) g")
	cfg := func(name string, b tlsBlock) string { return postgresTLSConfig(t, p, k, name, b) }

	t.Run("verify-full", func(t *testing.T) {
		// The password is wrong on purpose: method cert authenticates by
		// the certificate alone.
		r := startReaderProcess(t, cfg("pgtls", fullTLS(p.Certs)), "not-the-password")
		pgWaitCaughtUp(t, p, k, "pgtls", 60*time.Second)
		pgExec(t, p,
			"INSERT INTO accounts VALUES (1001, 'late', 1.00)",
			"UPDATE accounts SET balance = balance + 1 WHERE id <= 10",
			"DELETE FROM accounts WHERE id BETWEEN 11 AND 15")
		pgWaitCaughtUp(t, p, k, "pgtls", 60*time.Second)
		stopReader(t, r)
		id := schema.TableID{Database: "public", Name: "accounts"}
		pgCompare(t, p, k, "pgtls", id)
		checkFlowed(t, k, "pgtls", id, 200, 16)
	})

	other := otherCA(t)
	t.Run("check", func(t *testing.T) {
		checkTLS(t, cfg("pgcheck", fullTLS(p.Certs)), p.Password, 0, "all checks passed")
		checkTLS(t, cfg("pgcheckbad", tlsBlock{mode: "verify-full", ca: p.Certs.CAFile}), p.Password, 3, "postgres.tls.cert_file")
	})
	runBadTLS(t, cfg, k, p.Password, []badTLSCase{
		{"verify-ca-wrong-ca", tlsBlock{mode: "verify-ca", ca: other.CAFile, cert: p.Certs.ClientCertFile, key: p.Certs.ClientKeyFile},
			3, []string{"certificate signed by unknown authority", "postgres.tls.ca_file"}},
		{"wrong-ca", tlsBlock{mode: "verify-full", ca: other.CAFile, cert: p.Certs.ClientCertFile, key: p.Certs.ClientKeyFile},
			3, []string{"certificate signed by unknown authority", "postgres.tls.ca_file"}},
		{"no-client-cert", tlsBlock{mode: "verify-full", ca: p.Certs.CAFile},
			3, []string{"requires a valid client certificate", "postgres.tls.cert_file"}},
		{"client-cert-of-other-ca", tlsBlock{mode: "verify-full", ca: p.Certs.CAFile, cert: other.ClientCertFile, key: other.ClientKeyFile},
			3, []string{"postgres.tls.cert_file"}},
		{"wrong-host", tlsBlock{mode: "verify-full", ca: p.Certs.CAFile, cert: p.Certs.ClientCertFile, key: p.Certs.ClientKeyFile, serverName: "db.example.com"},
			3, []string{"not valid for", "db.example.com", "postgres.tls.server_name"}},
		{"tls-off", tlsBlock{mode: "disable"},
			3, []string{"no encryption", "postgres.tls.mode"}},
	})
}

// TestKafkaTLS runs the reader binary against a broker that speaks only
// TLS and requires a client certificate: with kafka.tls verify-full, the CA
// and the client certificate the snapshot reaches the table topic (read
// back over TLS); with a CA that did not sign the broker's certificate, or
// without a client certificate, the reader stops by itself with a message
// that names kafka.tls.
func TestKafkaTLS(t *testing.T) {
	ctx := context.Background()
	certs, err := harness.GenerateCerts(filepath.Join(t.TempDir(), "kafka"), "tributary")
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := tls.LoadX509KeyPair(certs.ServerCertFile, certs.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pem, _ := os.ReadFile(certs.CAFile)
	pool.AppendCertsFromPEM(pem)
	k := harness.KafkaT(t, harness.KafkaOptions{ExtraOpts: []kfake.Opt{kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{serverCert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})}})
	clientCert, err := tls.LoadX509KeyPair(certs.ClientCertFile, certs.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	clientTLS := []kgo.Opt{kgo.DialTLSConfig(&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{clientCert}, MinVersion: tls.VersionTLS12})}

	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	execAll(t, m, "CREATE DATABASE shop", "CREATE TABLE shop.accounts (id BIGINT PRIMARY KEY, owner VARCHAR(64) NOT NULL)")
	for i := 1; i <= 50; i++ {
		execAll(t, m, fmt.Sprintf("INSERT INTO shop.accounts VALUES (%d, 'owner-%d')", i, i))
	}
	cfg := func(name string, b tlsBlock) string {
		return mysqlTLSConfig(t, m, k, name, tlsBlock{mode: "disable"}, b)
	}

	t.Run("verify-full", func(t *testing.T) {
		p := startReaderProcess(t, cfg("kafkatls", fullTLS(certs)), m.Password)
		topic := schema.TopicName("kafkatls", schema.TableID{Database: "shop", Name: "accounts"})
		reads := 0
		for deadline := time.Now().Add(60 * time.Second); reads < 50; time.Sleep(200 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of 50 rows in %s after 60s:\n%s", reads, topic, p.out)
			}
			reads = 0
			err := kafka.ReadTopic(ctx, k.Addrs, clientTLS, topic, func(r *kgo.Record) error {
				if r.Value != nil {
					reads++
				}
				return nil
			})
			if err != nil && !strings.Contains(err.Error(), "UNKNOWN_TOPIC") {
				t.Logf("read %s: %v", topic, err)
			}
		}
		stopReader(t, p)
	})

	other := otherCA(t)
	for _, tt := range []badTLSCase{
		{"kafka-wrong-ca", tlsBlock{mode: "verify-full", ca: other.CAFile, cert: certs.ClientCertFile, key: certs.ClientKeyFile},
			1, []string{"certificate signed by unknown authority", "kafka.tls.ca_file"}},
		{"kafka-no-client-cert", tlsBlock{mode: "verify-full", ca: certs.CAFile},
			1, []string{"kafka.tls.cert_file"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := startReaderProcess(t, cfg(tt.name, tt.tls), m.Password)
			code, out := waitExit(t, p)
			t.Logf("exit code %d:\n%s", code, out)
			if code != tt.code {
				t.Errorf("exit code %d, want %d", code, tt.code)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q", w)
				}
			}
		})
	}
}
