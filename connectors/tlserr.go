package connectors

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
)

// TLSProblem explains a failed TLS handshake with a source database in the
// words of the source config: what is wrong with the certificates and which
// key under key (such as "mysql.tls" or "postgres.tls") fixes it. It
// returns "" when err is not a TLS failure. Retrying cannot fix any of
// these, so readers return them as a *FatalError.
func TLSProblem(err error, key string) string {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &unknown) || strings.Contains(msg, "certificate signed by unknown authority"):
		return fmt.Sprintf("the server's certificate is not signed by a CA in %[1]s.ca_file (the system's CAs when it is empty): "+
			"set %[1]s.ca_file to the PEM file of the CA that signed the server's certificate", key)
	case errors.As(err, &hostname):
		return fmt.Sprintf("the server's certificate is not valid for the name %q: connect to a name the certificate holds, "+
			"set %[2]s.server_name to one, or use %[2]s.mode: verify-ca", hostname.Host, key)
	case errors.As(err, &invalid):
		return fmt.Sprintf("the server's certificate is invalid (%v): renew it, or check the clock of this machine", invalid)
	case strings.Contains(msg, "remote error: tls:"):
		// The server refused our side of the handshake, most often the
		// client certificate (absent, expired, or signed by a CA the
		// server does not trust).
		return fmt.Sprintf("the server refused the TLS handshake: check %[1]s.cert_file and %[1]s.key_file "+
			"(a client certificate signed by a CA the server trusts)", key)
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		return fmt.Sprintf("the server did not answer in TLS: check the host and port, or set %s.mode: disable", key)
	case strings.Contains(msg, "does not support TLS"), strings.Contains(msg, "server refused TLS connection"):
		return fmt.Sprintf("the server has TLS turned off: turn it on there (MySQL/MariaDB: ssl_cert, ssl_key; PostgreSQL: ssl = on), "+
			"or set %s.mode: disable to connect without encryption", key)
	case strings.Contains(msg, "tls:"), strings.Contains(msg, "x509:"):
		return fmt.Sprintf("TLS failed: check the files and mode under %s", key)
	}
	return ""
}
