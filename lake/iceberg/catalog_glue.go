package iceberg

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	gluecat "github.com/apache/iceberg-go/catalog/glue"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	gluetypes "github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/aws/smithy-go"
)

// GlueConfig configures the AWS Glue Data Catalog. Each lake namespace is
// a Glue database and each table a Glue table of type ICEBERG whose
// metadata_location parameter points at its current metadata file. Glue
// is called with the S3 config's static keys when they are set, else with
// the AWS SDK's credential chain.
type GlueConfig struct {
	// Region is Glue's region; empty means S3Config.Region, else the
	// SDK's default.
	Region string
	// CatalogID is the AWS account id that owns the catalog; empty means
	// the account of the credentials.
	CatalogID string
	// Endpoint overrides Glue's endpoint URL (and Glue's only: the S3
	// client keeps its own); empty means AWS's.
	Endpoint string
}

// glueCatalog returns the Glue catalog. It does no I/O: the first call
// to Glue is the first table operation (or Check).
func (l *Lake) glueCatalog(props iceberg.Properties) (catalog.Catalog, error) {
	if !l.isS3() || l.aws == nil {
		return nil, fmt.Errorf("lake: the glue catalog needs an s3:// warehouse, not %s (fix warehouse.s3)", l.cfg.Warehouse)
	}
	g := l.cfg.Glue
	cfg := l.aws.Copy()
	cfg.Region = cmp.Or(g.Region, l.cfg.S3.Region, cfg.Region)
	if cfg.Region == "" {
		return nil, errors.New("lake: the glue catalog has no region; set catalog.glue.region (or warehouse.s3.region, or $AWS_REGION)")
	}
	client, err := glueHTTPClient(l.cfg.S3)
	if err != nil {
		return nil, err
	}
	// The glue catalog reads a table's metadata file with this config
	// too, so the client trusts the S3 store's CA besides the system's.
	cfg.HTTPClient = client
	if g.Endpoint != "" {
		// Not cfg.BaseEndpoint: it would redirect the S3 client that
		// reads metadata files with this config as well.
		cfg.ConfigSources = append([]any{glueEndpoint(g.Endpoint)}, cfg.ConfigSources...)
	}
	p := maps.Clone(props)
	if g.CatalogID != "" {
		p[gluecat.CatalogIdKey] = g.CatalogID
	}
	cat, err := gluecat.NewCatalog(gluecat.WithAwsConfig(cfg), gluecat.WithAwsProperties(gluecat.AwsProperties(p)))
	if err != nil {
		return nil, fmt.Errorf("open glue catalog: %w", err)
	}
	return cat, nil
}

// glueEndpoint is an AWS SDK config source that names Glue's endpoint; the
// Glue client asks its config sources for a service endpoint.
type glueEndpoint string

// GetServiceBaseEndpoint satisfies the SDK's ServiceBaseEndpointProvider.
func (e glueEndpoint) GetServiceBaseEndpoint(_ context.Context, sdkID string) (string, bool, error) {
	if sdkID != "Glue" {
		return "", false, nil
	}
	return string(e), true, nil
}

// glueHTTPClient returns an HTTP client whose requests time out like the
// S3 client's, trusting the system's CAs and those of S3Config.CAFile.
func glueHTTPClient(c S3Config) (aws.HTTPClient, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if ca := cmp.Or(c.CAFile, os.Getenv("AWS_CA_BUNDLE")); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("lake s3 ca file: %w (fix warehouse.s3.ca_file)", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("lake s3 ca file %s holds no PEM certificate (fix warehouse.s3.ca_file)", ca)
		}
	}
	timeout := c.RequestTimeout
	return awshttp.NewBuildableClient().
		WithTransportOptions(func(t *http.Transport) {
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
			}
			t.TLSClientConfig.RootCAs = roots
			t.ResponseHeaderTimeout = timeout
			t.IdleConnTimeout = 90 * time.Second
		}).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = timeout }).
		WithTimeout(10 * timeout), nil
}

// glueProblem explains an error of the Glue catalog, naming the key to fix.
func (l *Lake) glueProblem(err error) error {
	g := l.cfg.Glue
	where := "glue"
	if g.CatalogID != "" {
		where += " catalog " + g.CatalogID
	}
	if r := cmp.Or(g.Region, l.cfg.S3.Region); r != "" {
		where += " in " + r
	}
	var (
		api smithy.APIError
		ne  net.Error
	)
	msg := err.Error()
	switch {
	case errors.As(err, new(*gluetypes.AccessDeniedException)),
		errors.As(err, &api) && isAWSDenied(api.ErrorCode()):
		return fmt.Errorf("lake catalog: %s denies access: %w; grant the compactor's AWS identity glue:GetDatabase(s), glue:CreateDatabase, glue:GetTable(s), glue:CreateTable and glue:UpdateTable (check warehouse.s3.access_key_id / the SDK's credentials, and catalog.glue.catalog_id)", where, err)
	case strings.Contains(msg, "failed to retrieve credentials"), strings.Contains(msg, "no EC2 IMDS role found"):
		return fmt.Errorf("lake catalog: %s: no AWS credentials: %w; set warehouse.s3.access_key_id and secret_access_key, or give the process an AWS identity (environment, shared config, instance or pod role)", where, err)
	case errors.As(err, &ne), strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"):
		return fmt.Errorf("lake catalog: %s does not answer: %w; check catalog.glue.region and catalog.glue.endpoint, and that this host reaches Glue (proxy, VPC endpoint)", where, err)
	}
	return fmt.Errorf("lake catalog: %s: %w; check catalog.glue (region, catalog_id, endpoint) and the AWS credentials", where, err)
}

// isAWSDenied reports whether an AWS error code means the credentials were
// refused or lack a permission.
func isAWSDenied(code string) bool {
	switch code {
	case "AccessDeniedException", "AccessDenied", "UnrecognizedClientException", "InvalidSignatureException",
		"ExpiredTokenException", "InvalidClientTokenId", "SignatureDoesNotMatch", "MissingAuthenticationTokenException":
		return true
	}
	return false
}
