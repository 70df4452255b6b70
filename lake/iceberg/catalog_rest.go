package iceberg

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	restcat "github.com/apache/iceberg-go/catalog/rest"
)

// RESTConfig configures an Iceberg REST catalog. It authenticates with
// Token, with OAuth2 client credentials (ClientSecret, and ClientID), with
// AWS SigV4, or not at all. Storage credentials the server vends for a
// table take precedence over the S3 config's.
type RESTConfig struct {
	// URI is the catalog's base URL, the part before /v1.
	URI string
	// Warehouse names the warehouse sent to /v1/config; empty means the
	// server's default.
	Warehouse string
	// Prefix is the path prefix after /v1; empty means the one the
	// server's /v1/config returns.
	Prefix string
	// Token is a static bearer token.
	Token string
	// ClientID and ClientSecret are OAuth2 client credentials, exchanged
	// for a token at OAuthURI (default URI/v1/oauth/tokens) with Scope
	// (default "catalog").
	ClientID, ClientSecret string
	OAuthURI, Scope        string
	// CAFile is a PEM bundle of the CAs that sign the catalog's and the
	// token endpoint's certificates; empty means the system's CAs.
	CAFile string
	// SigV4 signs requests with AWS Signature V4 with the S3 config's
	// keys or the SDK's chain, for SigningName (default execute-api) in
	// SigningRegion (default S3Config.Region).
	SigV4                      bool
	SigningRegion, SigningName string
	// RequestTimeout bounds the wait for one answer's headers; default
	// 2m (a commit may take the server a while).
	RequestTimeout time.Duration
}

// LogValue keeps the token and the client secret out of logs.
func (c RESTConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("uri", redactURL(c.URI)), slog.String("warehouse", c.Warehouse),
		slog.String("client_id", c.ClientID), slog.Bool("token", c.Token != ""), slog.Bool("sigv4", c.SigV4))
}

// restCatalog connects to the REST catalog: the client reads the server's
// /v1/config, and obtains a token when configured with client credentials.
func (l *Lake) restCatalog(ctx context.Context, props iceberg.Properties) (catalog.Catalog, error) {
	c := l.cfg.REST
	opts, err := l.restOptions(props)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cmp.Or(c.RequestTimeout, 2*time.Minute))
	defer cancel()
	cat, err := restcat.NewCatalog(ctx, l.cfg.CatalogName, c.URI, opts...)
	if err != nil {
		return nil, fmt.Errorf("open rest catalog %s: %w", redactURL(c.URI), err)
	}
	return cat, nil
}

// restOptions turns the REST config into iceberg-go's options. Props, the
// warehouse's file IO properties, reach every table the catalog loads.
func (l *Lake) restOptions(props iceberg.Properties) ([]restcat.Option, error) {
	c := l.cfg.REST
	if u, err := url.Parse(c.URI); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("lake: rest catalog uri %q is not an http(s) URL (fix catalog.uri)", redactURL(c.URI))
	}
	opts := []restcat.Option{restcat.WithAdditionalProps(props)}
	if c.Warehouse != "" {
		opts = append(opts, restcat.WithWarehouseLocation(c.Warehouse))
	}
	if c.Prefix != "" {
		opts = append(opts, restcat.WithPrefix(c.Prefix))
	}
	switch {
	case c.Token != "":
		opts = append(opts, restcat.WithOAuthToken(c.Token))
	case c.ClientSecret != "":
		cred := c.ClientSecret
		if c.ClientID != "" {
			cred = c.ClientID + ":" + c.ClientSecret
		}
		opts = append(opts, restcat.WithCredential(cred))
		if c.Scope != "" {
			opts = append(opts, restcat.WithScope(c.Scope))
		}
		if c.OAuthURI != "" {
			u, err := url.Parse(c.OAuthURI)
			if err != nil {
				return nil, fmt.Errorf("lake: rest oauth uri: %w (fix catalog.rest.oauth_uri)", err)
			}
			opts = append(opts, restcat.WithAuthURI(u))
		}
	}
	if c.SigV4 {
		opts = append(opts, restcat.WithSigV4RegionSvc(cmp.Or(c.SigningRegion, l.cfg.S3.Region), c.SigningName))
		if l.aws != nil {
			// The warehouse's credentials (static keys or the SDK's chain).
			opts = append(opts, restcat.WithAwsConfig(l.aws.Copy()))
		}
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("lake rest ca file: %w (fix catalog.rest.ca_file)", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("lake rest ca file %s holds no PEM certificate (fix catalog.rest.ca_file)", c.CAFile)
		}
	}
	timeout := cmp.Or(c.RequestTimeout, 2*time.Minute)
	opts = append(opts, restcat.WithTLSConfig(tc), restcat.WithTransportFactory(func(tc *tls.Config) (http.RoundTripper, func()) {
		// http.DefaultTransport waits for an answer forever; a stalled
		// catalog must fail the request instead of holding a commit.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		t.ResponseHeaderTimeout = timeout
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		return t, t.CloseIdleConnections
	}))
	return opts, nil
}

// restProblem explains an error of the REST catalog, naming the key to
// fix. The URI is shown without user info or query.
func (l *Lake) restProblem(err error) error {
	c := l.cfg.REST
	where := "rest catalog " + redactURL(c.URI)
	if c.Warehouse != "" {
		where += " (warehouse " + c.Warehouse + ")"
	}
	var (
		ne   net.Error
		cert *tls.CertificateVerificationError
		ua   x509.UnknownAuthorityError
	)
	msg := err.Error()
	switch {
	case errors.As(err, &cert), errors.As(err, &ua), strings.Contains(msg, "x509:"):
		return fmt.Errorf("lake catalog: %s: its TLS certificate is not trusted: %w; set catalog.rest.ca_file to the CA bundle that signs it", where, err)
	case errors.Is(err, restcat.ErrUnauthorized), errors.Is(err, restcat.ErrOAuthError), errors.Is(err, restcat.ErrAuthorizationExpired):
		return fmt.Errorf("lake catalog: %s refuses the credentials: %w; check catalog.rest.token, or client_id, client_secret, scope and oauth_uri (or the AWS credentials with sigv4)", where, err)
	case errors.Is(err, restcat.ErrForbidden):
		return fmt.Errorf("lake catalog: %s denies access: %w; grant the principal the right to list namespaces and to create, load and update tables in the warehouse", where, err)
	case errors.As(err, &ne), strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"):
		return fmt.Errorf("lake catalog: %s does not answer: %w; check catalog.uri (scheme, host, port) and that the catalog is running and reachable from here", where, err)
	case errors.Is(err, restcat.ErrServiceUnavailable), errors.Is(err, restcat.ErrServerError):
		return fmt.Errorf("lake catalog: %s fails: %w; check the catalog server's log", where, err)
	}
	return fmt.Errorf("lake catalog: %s: %w; check catalog.uri (the base URL, before /v1), catalog.rest.warehouse and catalog.rest.prefix", where, err)
}

// redactURL returns u without user info, query and fragment.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}
