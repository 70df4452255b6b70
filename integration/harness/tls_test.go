package harness

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/jackc/pgx/v5"
)

// clientTLS is a verify-full client config for the certs, with the client
// certificate when withCert.
func clientTLS(t *testing.T, c *Certs, withCert bool) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in", c.CAFile)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	if withCert {
		cert, err := tls.LoadX509KeyPair(c.ClientCertFile, c.ClientKeyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg
}

// TestMariaDBTLS: the reader account gets in only over verified TLS with
// the client certificate, and the session is encrypted.
func TestMariaDBTLS(t *testing.T) {
	ctx := testContext(t)
	m := MariaDBT(t, MariaDBOptions{TLS: true})
	if m.Certs == nil {
		t.Fatal("no Certs on a TLS server")
	}
	dial := func(cfg *tls.Config) (*client.Conn, error) {
		return client.ConnectWithContext(ctx, m.Addr(), m.User, m.Password, "", 5*time.Second, func(c *client.Conn) error {
			if cfg != nil {
				c.SetTLSConfig(cfg)
			}
			return c.SetCollation("utf8mb4_general_ci")
		})
	}
	if c, err := dial(nil); err == nil {
		c.Close()
		t.Error("the reader account connected without TLS")
	}
	if c, err := dial(clientTLS(t, m.Certs, false)); err == nil {
		c.Close()
		t.Error("the reader account connected over TLS without a client certificate")
	}
	conn, err := dial(clientTLS(t, m.Certs, true))
	if err != nil {
		t.Fatalf("connect with TLS and client certificate: %v", err)
	}
	defer conn.Close()
	r, err := conn.Execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
	if err != nil {
		t.Fatal(err)
	}
	if cipher, _ := r.GetString(0, 1); cipher == "" {
		t.Error("the session is not encrypted (Ssl_cipher is empty)")
	}
	// Root still connects without TLS, as the rest of the harness needs.
	if err := m.Exec(ctx, "SELECT 1"); err != nil {
		t.Errorf("root without TLS: %v", err)
	}
}

// TestPostgresTLS: the reader role gets in only over verified TLS with the
// client certificate, for query and replication connections alike.
func TestPostgresTLS(t *testing.T) {
	ctx := testContext(t)
	p := PostgresT(t, PostgresOptions{TLS: true})
	if p.Certs == nil {
		t.Fatal("no Certs on a TLS server")
	}
	for _, cs := range []string{p.ConnString(), p.ReplicationConnString()} {
		if !strings.Contains(cs, "sslmode=verify-full") {
			t.Fatalf("connection string without verify-full: %s", cs)
		}
		conn, err := pgx.Connect(ctx, cs)
		if err != nil {
			t.Fatalf("connect %s: %v", cs, err)
		}
		if !strings.Contains(cs, "replication=") {
			var ssl bool
			if err := conn.QueryRow(ctx, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl); err != nil || !ssl {
				t.Errorf("session ssl=%v, err=%v", ssl, err)
			}
		}
		conn.Close(ctx)
	}
	plain := p.url(p.User, p.Password, p.Database)
	if conn, err := pgx.Connect(ctx, plain); err == nil {
		conn.Close(ctx)
		t.Error("the reader role connected without TLS")
	}
	noCert := strings.NewReplacer("sslmode=disable", "sslmode=verify-full&sslrootcert="+p.Certs.CAFile).Replace(plain)
	_, err := pgx.Connect(ctx, noCert)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without a client certificate: want a certificate error, got %v", err)
	}
	if err := p.Exec(ctx, "SELECT 1"); err != nil {
		t.Errorf("superuser without TLS: %v", err)
	}
}
