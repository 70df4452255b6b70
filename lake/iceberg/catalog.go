// Package iceberg writes lake tables as Apache Iceberg format-v2 tables
// with iceberg-go. It is the only package that imports iceberg-go and
// arrow-go.
//
// Upserts are merge-on-read: new row images are appended as Parquet data
// files and the rows they replace are removed with v2 position deletes,
// written here and committed with the data files in one row delta. It
// never writes equality deletes (see docs/adr/0003-merge-on-read.md).
package iceberg

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergio "github.com/apache/iceberg-go/io"
	s3io "github.com/apache/iceberg-go/io/gocloud/s3" // also registers the s3:// file IO
	"github.com/apache/iceberg-go/table"
	"github.com/apache/iceberg-go/utils"
	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the PostgreSQL catalog
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", pure Go

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// Config configures a Lake. The zero value of every field but Warehouse
// has a working default.
type Config struct {
	// Warehouse is the root of the lake's files: a local folder, or
	// "s3://bucket/prefix" (see S3).
	Warehouse string
	// S3 configures the S3 client of an s3:// warehouse.
	S3 S3Config
	// CatalogURI is the SQL catalog's database: a postgres:// URL,
	// "sqlite:/path/catalog.db", or empty for a SQLite file named
	// catalog.db inside a local Warehouse.
	CatalogURI string
	// CatalogName is the catalog_name column of the JDBC-catalog layout;
	// default "tributary".
	CatalogName string
	// Glue, when not nil, keeps the tables in the AWS Glue Data Catalog
	// instead of the SQL catalog of CatalogURI; it needs an s3://
	// Warehouse.
	Glue *GlueConfig
	// REST, when not nil, keeps the tables in an Iceberg REST catalog
	// instead of the SQL catalog of CatalogURI.
	REST *RESTConfig
	// TargetFileRows caps the rows of one data file; default 1,000,000.
	TargetFileRows int
	// Maintain says when Table.Maintain rewrites files.
	Maintain MaintainConfig
	Logger   *slog.Logger
}

// S3Config configures the S3 client. Empty fields fall back to the AWS
// SDK's usual chain (environment, shared config, instance role).
type S3Config struct {
	// Region is the bucket's region.
	Region string
	// Endpoint is the URL of an S3-compatible store; empty means AWS.
	Endpoint string
	// PathStyle selects path-style addressing (endpoint/bucket/key).
	PathStyle bool
	// AccessKeyID and SecretAccessKey are static credentials.
	AccessKeyID, SecretAccessKey string
	// RequestTimeout is how long one S3 request waits for the answer's
	// headers before it fails (and the SDK retries it); the whole request,
	// body included, may take ten times as long. Default 10s.
	RequestTimeout time.Duration
	// CAFile is a PEM bundle of the CAs the endpoint's certificate is
	// checked against; empty means $AWS_CA_BUNDLE when set, else the
	// system's CAs.
	CAFile string
}

// LogValue keeps the secret key out of logs.
func (c S3Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("region", c.Region), slog.String("endpoint", c.Endpoint), slog.Bool("path_style", c.PathStyle))
}

// Lake is an Iceberg lake behind a SQL, Glue or REST catalog.
type Lake struct {
	cfg Config
	log *slog.Logger

	mu  sync.Mutex
	db  *sql.DB
	cat catalog.Catalog
	// aws is the S3 client config of an s3:// warehouse (request
	// timeouts), handed to iceberg-go's file IO through the context.
	aws *aws.Config
}

var _ lake.Lake = (*Lake)(nil)

// New returns a Lake; it does no I/O.
func New(cfg Config) *Lake {
	if cfg.CatalogName == "" {
		cfg.CatalogName = "tributary"
	}
	if cfg.TargetFileRows <= 0 {
		cfg.TargetFileRows = 1_000_000
	}
	if cfg.S3.RequestTimeout <= 0 {
		cfg.S3.RequestTimeout = 10 * time.Second
	}
	cfg.Maintain.applyDefaults()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lake{cfg: cfg, log: log}
}

// catalog connects on first use.
func (l *Lake) catalog(ctx context.Context) (catalog.Catalog, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cat != nil {
		return l.cat, nil
	}
	if l.cfg.Warehouse == "" {
		return nil, errors.New("lake: no warehouse configured")
	}
	if l.cfg.Glue != nil && l.cfg.REST != nil {
		return nil, errors.New("lake: both a glue and a rest catalog configured; keep one")
	}
	props := l.ioProps()
	if l.isS3() && l.aws == nil {
		awsCfg, err := s3AWSConfig(ctx, props, l.cfg.S3)
		if err != nil {
			return nil, err
		}
		l.aws = awsCfg
	}
	var (
		cat catalog.Catalog
		db  *sql.DB
		err error
	)
	switch {
	case l.cfg.Glue != nil:
		cat, err = l.glueCatalog(props)
	case l.cfg.REST != nil:
		cat, err = l.restCatalog(ctx, props)
	default:
		cat, db, err = l.sqlCatalog(props)
	}
	if err != nil {
		return nil, err
	}
	l.db, l.cat = db, cat
	return cat, nil
}

// sqlCatalog opens the SQL catalog of CatalogURI: PostgreSQL, or a SQLite
// file (by default inside a local warehouse).
func (l *Lake) sqlCatalog(props iceberg.Properties) (catalog.Catalog, *sql.DB, error) {
	driver, dialect, dsn := "pgx", sqlcat.Postgres, l.cfg.CatalogURI
	if dsn == "" || strings.HasPrefix(dsn, "sqlite:") {
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" && l.isS3() {
			return nil, nil, errors.New("lake: an s3:// warehouse needs a catalog URI (the SQLite default lives in a local warehouse)")
		}
		if path == "" {
			if err := os.MkdirAll(l.cfg.Warehouse, 0o755); err != nil {
				return nil, nil, fmt.Errorf("create warehouse %s: %w", l.cfg.Warehouse, err)
			}
			path = filepath.Join(l.cfg.Warehouse, "catalog.db")
		}
		// WAL and a busy timeout let several compactor processes share
		// the file; every pooled connection gets them from the DSN.
		driver, dialect = "sqlite", sqlcat.SQLite
		dsn = "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("open catalog database: %w", err)
	}
	props["warehouse"] = l.warehouseURI()
	cat, err := sqlcat.NewCatalog(l.cfg.CatalogName, db, dialect, props)
	if err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("open sql catalog (%s): %w", dialect, err)
	}
	return cat, db, nil
}

// s3AWSConfig returns the AWS config of the warehouse's S3 client: the
// one iceberg-go would build from props, with an HTTP client whose
// requests time out, so that a stalled request fails and is retried
// instead of holding a commit until the connection drops.
func s3AWSConfig(ctx context.Context, props iceberg.Properties, c S3Config) (*aws.Config, error) {
	cfg, err := s3io.ParseAWSConfig(ctx, props)
	if err != nil {
		return nil, fmt.Errorf("lake s3 client config: %w", err)
	}
	// The client replaces the SDK's, and with it the SDK's reading of
	// AWS_CA_BUNDLE: read the CA bundle here.
	var roots *x509.CertPool
	if ca := cmp.Or(c.CAFile, os.Getenv("AWS_CA_BUNDLE")); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("lake s3 ca file: %w (fix warehouse.s3.ca_file)", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("lake s3 ca file %s holds no PEM certificate (fix warehouse.s3.ca_file)", ca)
		}
	}
	timeout := c.RequestTimeout
	cfg.HTTPClient = awshttp.NewBuildableClient().
		WithTransportOptions(func(t *http.Transport) {
			if roots != nil {
				if t.TLSClientConfig == nil {
					t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
				}
				t.TLSClientConfig.RootCAs = roots
			}
			t.ResponseHeaderTimeout = timeout
			t.MaxIdleConns = 256
			t.MaxIdleConnsPerHost = 256
			t.IdleConnTimeout = 90 * time.Second
		}).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = timeout }).
		WithTimeout(10 * timeout)
	return cfg, nil
}

// withStorage returns ctx carrying the S3 client config, which iceberg-go
// reads whenever it opens the warehouse's file IO.
func (l *Lake) withStorage(ctx context.Context) context.Context {
	l.mu.Lock()
	cfg := l.aws
	l.mu.Unlock()
	if cfg == nil {
		return ctx
	}
	return utils.WithAwsConfig(ctx, cfg)
}

func (l *Lake) isS3() bool { return strings.HasPrefix(l.cfg.Warehouse, "s3://") }

// ioProps returns the iceberg-go file IO properties of the warehouse.
func (l *Lake) ioProps() iceberg.Properties {
	props := iceberg.Properties{}
	if !l.isS3() {
		return props
	}
	s := l.cfg.S3
	set := func(k, v string) {
		if v != "" {
			props[k] = v
		}
	}
	set(icebergio.S3Region, s.Region)
	set(icebergio.S3EndpointURL, s.Endpoint)
	set(icebergio.S3AccessKeyID, s.AccessKeyID)
	set(icebergio.S3SecretAccessKey, s.SecretAccessKey)
	props[icebergio.S3ForceVirtualAddressing] = strconv.FormatBool(!s.PathStyle)
	return props
}

// warehouseURI returns the warehouse as a URI: s3://bucket/prefix, or
// file:// and the absolute path of a local folder.
func (l *Lake) warehouseURI() string {
	if l.isS3() {
		return strings.TrimSuffix(l.cfg.Warehouse, "/")
	}
	abs, err := filepath.Abs(l.cfg.Warehouse)
	if err != nil {
		abs = l.cfg.Warehouse
	}
	return "file://" + filepath.ToSlash(abs)
}

// locationSegment returns the folder of a namespace or table name in a
// table's location. Iceberg locations are URIs, which engines treat
// differently: iceberg-go writes some paths with a space escaped as %20
// and others not, Java's S3FileIO takes keys literally, and Hadoop's Path
// escapes a % again. So a name keeps only letters, digits, '.', '_', '-'
// and non-ASCII UTF-8 as they are, and any other byte becomes '~' and two
// hex digits ("Odd Table" -> "Odd~20Table"), which no two names share. A
// name of dots only ("..", which would climb a folder) has them escaped
// too.
func locationSegment(name string) string {
	dots := strings.Trim(name, ".") == ""
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c >= 0x80,
			c == '.' && !dots:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "~%02x", c)
		}
	}
	return b.String()
}

// Close closes the catalog's database. It is idempotent.
func (l *Lake) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var err error
	if c, ok := l.cat.(catalog.Closer); ok {
		err = c.Close()
	}
	if l.db != nil {
		err = errors.Join(err, l.db.Close())
	}
	l.cat, l.db = nil, nil
	return err
}

// Open loads or creates the lake table of source table t and builds its
// key index.
func (l *Lake) Open(ctx context.Context, t *schema.Table, cfg lake.TableConfig) (lake.Table, error) {
	cat, err := l.catalog(ctx)
	if err != nil {
		return nil, err
	}
	ctx = l.withStorage(ctx)
	ident := table.Identifier{cfg.Namespace, cfg.Name}
	tbl, err := l.loadOrCreate(ctx, cat, ident, t, cfg)
	if err != nil {
		return nil, err
	}
	w := &Table{
		lake: l, cat: cat, ident: ident, tbl: tbl, cfg: cfg, newest: t,
		log: l.log.With("table", strings.Join(ident, ".")),
	}
	if err := w.load(ctx); err != nil {
		return nil, err
	}
	if err := w.setWriteModes(ctx); err != nil {
		return nil, err
	}
	return w, nil
}

// writeModes are the table properties that tell engines how the table's
// rows are updated and deleted.
func writeModes(cfg lake.TableConfig) iceberg.Properties {
	mode := "merge-on-read"
	if cfg.CopyOnWrite {
		mode = "copy-on-write"
	}
	return iceberg.Properties{"write.delete.mode": mode, "write.update.mode": mode, "write.merge.mode": mode}
}

// setWriteModes updates the write mode properties of a table whose
// configuration changed.
func (w *Table) setWriteModes(ctx context.Context) error {
	want := writeModes(w.cfg)
	props := w.tbl.Properties()
	if props["write.delete.mode"] == want["write.delete.mode"] && props["write.update.mode"] == want["write.update.mode"] {
		return nil
	}
	txn := w.tbl.NewTransaction()
	if err := txn.SetProperties(want); err != nil {
		return fmt.Errorf("table %s: %w", w.name(), err)
	}
	tbl, err := txn.Commit(ctx)
	if err != nil {
		return fmt.Errorf("table %s: set write mode %s: %w", w.name(), want["write.delete.mode"], err)
	}
	w.log.Info("write mode set", "mode", want["write.delete.mode"])
	w.tbl = tbl
	return nil
}

func (l *Lake) loadOrCreate(ctx context.Context, cat catalog.Catalog, ident table.Identifier, t *schema.Table, cfg lake.TableConfig) (*table.Table, error) {
	tbl, err := cat.LoadTable(ctx, ident)
	if err == nil {
		return tbl, nil
	}
	if !errors.Is(err, catalog.ErrNoSuchTable) {
		return nil, fmt.Errorf("load table %s: %w", strings.Join(ident, "."), err)
	}
	err = cat.CreateNamespace(ctx, table.Identifier{cfg.Namespace}, nil)
	if err != nil && !errors.Is(err, catalog.ErrNamespaceAlreadyExists) {
		return nil, fmt.Errorf("create namespace %s: %w", cfg.Namespace, err)
	}
	sc, err := NewSchema(t)
	if err != nil {
		return nil, err
	}
	spec, err := NewSpec(sc, t, cfg)
	if err != nil {
		return nil, err
	}
	props := iceberg.Properties{
		"format-version":                  "2",
		"write.format.default":            "parquet",
		"write.parquet.compression-codec": "zstd",
		"comment":                         fmt.Sprintf("Change data capture of %s, written by tributary", t.ID),
		"tributary.source.table":          t.ID.String(),
		PropSourceVersion:                 strconv.Itoa(t.Version),
	}
	maps.Copy(props, writeModes(cfg))
	for k, v := range cfg.Properties {
		props[k] = v
	}
	location := l.warehouseURI() + "/" + locationSegment(cfg.Namespace) + "/" + locationSegment(cfg.Name)
	tbl, err = cat.CreateTable(ctx, ident, sc,
		catalog.WithPartitionSpec(&spec), catalog.WithProperties(props), catalog.WithLocation(location))
	if errors.Is(err, catalog.ErrTableAlreadyExists) {
		// Another compactor created it first.
		return cat.LoadTable(ctx, ident)
	}
	if err != nil {
		return nil, fmt.Errorf("create table %s: %w", strings.Join(ident, "."), err)
	}
	l.log.Info("created lake table", "table", strings.Join(ident, "."), "location", location, "partition", spec.String())
	return tbl, nil
}
