package connectors

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
)

func TestTLSProblem(t *testing.T) {
	leaf := &x509.Certificate{DNSNames: []string{"localhost"}}
	tests := []struct {
		name string
		err  error
		want []string // empty: not a TLS problem
	}{
		{"unknown-ca", fmt.Errorf("connect: %w", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}),
			[]string{"not signed by a CA in mysql.tls.ca_file"}},
		{"hostname", fmt.Errorf("connect: %w", &tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: leaf, Host: "db.example.com"}}),
			[]string{`not valid for the name "db.example.com"`, "mysql.tls.server_name", "verify-ca"}},
		{"expired", x509.CertificateInvalidError{Cert: leaf, Reason: x509.Expired},
			[]string{"invalid", "clock"}},
		{"client-cert-refused", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")},
			[]string{"mysql.tls.cert_file", "mysql.tls.key_file"}},
		{"plain-server", errors.New("tls: first record does not look like a TLS handshake"),
			[]string{"did not answer in TLS", "mysql.tls.mode: disable"}},
		{"tls-off", errors.New("the MySQL Server does not support TLS required by the client"),
			[]string{"TLS turned off", "mysql.tls.mode: disable"}},
		{"refused", errors.New("connection refused"), nil},
		{"password", errors.New("ERROR 1045 (28000): Access denied for user"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TLSProblem(tt.err, "mysql.tls")
			if len(tt.want) == 0 {
				if got != "" {
					t.Errorf("want no TLS problem, got %q", got)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q does not say %q", got, w)
				}
			}
		})
	}
}
