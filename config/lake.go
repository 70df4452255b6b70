package config

import (
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Lake is the configuration of the compactors that write the change topics
// into Iceberg tables (`tributary compactor -c lake.yaml`). It is read with
// the same rules as Source: strict keys, ${VAR} expansion, file: secrets.
type Lake struct {
	// Kafka is where the change topics are read from.
	Kafka LakeKafka `yaml:"kafka"`
	// Warehouse is where table data and metadata files go.
	Warehouse Warehouse `yaml:"warehouse"`
	// Catalog is the Iceberg catalog that tracks the tables.
	Catalog Catalog `yaml:"catalog"`
	// Sources lists the readers whose change topics are compacted.
	Sources []LakeSource `yaml:"sources"`
	// Commit says how often each table commits.
	Commit LakeCommit `yaml:"commit"`
	// Maintenance says how often tables are compacted.
	Maintenance LakeMaintenance `yaml:"maintenance"`
	// Metrics configures the HTTP listener for /metrics, /healthz, /readyz.
	Metrics Metrics `yaml:"metrics"`
	// Log configures logging.
	Log Log `yaml:"log"`
	// Notify says where commit notifications go.
	Notify LakeNotify `yaml:"notify"`
}

// LakeKafka is the Kafka cluster compactors consume from.
type LakeKafka struct {
	// Brokers are the seed brokers as host:port. Empty means the embedded
	// broker of `tributary demo` and `tributary run`.
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group shared by all compactors; default
	// "tributary-compactor".
	Group string `yaml:"group"`
	// SessionTimeout is how long the group waits for a silent compactor
	// before its tables move to the others; default 10s.
	SessionTimeout Duration `yaml:"session_timeout"`
	// FetchAhead bounds, per table, the bytes of records fetched that
	// the table's compactor has not yet applied: past it, fetching the
	// table pauses until it is down to half. Default 32MiB.
	FetchAhead ByteSize `yaml:"fetch_ahead"`
	// SASL is the authentication; nil means none.
	SASL *SASL `yaml:"sasl"`
	// TLS configures the connection's TLS.
	TLS TLS `yaml:"tls"`
	// Embedded configures the in-process broker that `tributary run` starts
	// when Brokers is empty.
	Embedded EmbeddedKafka `yaml:"embedded"`
}

// EmbeddedKafka is the in-process broker of `tributary run`.
type EmbeddedKafka struct {
	// Dir is where the broker keeps its log, so that a restart loses
	// nothing; default "_kafka" inside a local warehouse.path, required
	// with an S3 warehouse.
	Dir string `yaml:"dir"`
	// Listen is the broker's host:port; default 127.0.0.1:9092.
	Listen string `yaml:"listen"`
}

// UsesEmbeddedBroker reports whether no brokers are configured, which means
// the in-process broker of `tributary demo` and `tributary run`.
func (k LakeKafka) UsesEmbeddedBroker() bool { return len(k.Brokers) == 0 }

// Warehouse is where the lake's files live: a local folder (Path) or an S3
// bucket (S3), exactly one of the two.
type Warehouse struct {
	// Path is a local folder.
	Path string `yaml:"path"`
	// S3 is an S3 or S3-compatible bucket; nil when Path is used.
	S3 *S3 `yaml:"s3"`
}

// S3 is an S3 or S3-compatible bucket. Credentials come from
// AccessKeyID and SecretAccessKey when set, else from the AWS SDK's usual
// chain (environment, shared config, instance role).
type S3 struct {
	// Bucket is the bucket name.
	Bucket string `yaml:"bucket"`
	// Prefix is the key prefix under which the warehouse lives; may be empty.
	Prefix string `yaml:"prefix"`
	// Region is the bucket's region; empty means the SDK's default.
	Region string `yaml:"region"`
	// Endpoint is the URL of an S3-compatible store; empty means AWS.
	Endpoint string `yaml:"endpoint"`
	// PathStyle selects path-style addressing, which most S3-compatible
	// stores need.
	PathStyle bool `yaml:"path_style"`
	// AccessKeyID and SecretAccessKey are static credentials; empty means
	// the SDK's chain.
	AccessKeyID     Secret `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
	// CAFile is a PEM bundle of the CAs that sign the endpoint's TLS
	// certificate, for S3-compatible stores with a private CA; empty means
	// the system's CAs.
	CAFile string `yaml:"ca_file"`
}

// Catalog is the Iceberg catalog.
type Catalog struct {
	// Kind is the catalog implementation; default CatalogSQL.
	Kind CatalogKind `yaml:"kind"`
	// URI locates the catalog: a database URL for CatalogSQL (empty means a
	// SQLite file in a local warehouse), the endpoint for CatalogREST.
	// It is a Secret because database URLs often hold a password.
	URI Secret `yaml:"uri"`
	// Glue configures CatalogGlue.
	Glue GlueCatalog `yaml:"glue"`
	// REST configures CatalogREST.
	REST RESTCatalog `yaml:"rest"`
}

// GlueCatalog is the AWS Glue Data Catalog. Each lake namespace is a Glue
// database. Glue is called with warehouse.s3's static keys when they are
// set, else with the AWS SDK's credential chain.
type GlueCatalog struct {
	// Region is Glue's region; empty means warehouse.s3.region, else the
	// SDK's default ($AWS_REGION, shared config).
	Region string `yaml:"region"`
	// CatalogID is the AWS account id that owns the catalog; empty means
	// the account of the credentials.
	CatalogID string `yaml:"catalog_id"`
	// Endpoint overrides Glue's endpoint URL (a VPC endpoint, a test
	// server); empty means AWS's.
	Endpoint string `yaml:"endpoint"`
}

// RESTCatalog is an Iceberg REST catalog at Catalog.URI. It
// authenticates with Token, with OAuth2 client credentials
// (ClientID/ClientSecret), with AWS SigV4, or not at all.
type RESTCatalog struct {
	// Warehouse names the catalog's warehouse (sent to /v1/config); empty
	// means the server's default.
	Warehouse string `yaml:"warehouse"`
	// Prefix is the path prefix after /v1; empty means the one the
	// server's /v1/config returns, if any.
	Prefix string `yaml:"prefix"`
	// Token is a bearer token sent with every request.
	Token Secret `yaml:"token"`
	// ClientID and ClientSecret are OAuth2 client credentials, exchanged
	// for a token at OAuthURI and refreshed before it expires.
	ClientID     string `yaml:"client_id"`
	ClientSecret Secret `yaml:"client_secret"`
	// OAuthURI is the OAuth2 token endpoint; empty means the catalog's
	// /v1/oauth/tokens.
	OAuthURI string `yaml:"oauth_uri"`
	// Scope is the OAuth2 scope; empty means "catalog".
	Scope string `yaml:"scope"`
	// CAFile is a PEM bundle of the CAs that sign the catalog's (and the
	// token endpoint's) certificate; empty means the system's CAs.
	CAFile string `yaml:"ca_file"`
	// SigV4 signs requests with AWS Signature V4 (Glue's and S3 Tables'
	// REST endpoints, API Gateway), with warehouse.s3's keys or the SDK's
	// chain.
	SigV4 bool `yaml:"sigv4"`
	// SigningRegion is the SigV4 region; empty means warehouse.s3.region.
	SigningRegion string `yaml:"signing_region"`
	// SigningName is the SigV4 service name, such as glue or s3tables;
	// empty means execute-api.
	SigningName string `yaml:"signing_name"`
}

// LakeSource is one reader's topics and how they map onto lake tables.
type LakeSource struct {
	// TopicPrefix is the reader's kafka.topic_prefix (its name by default).
	TopicPrefix string `yaml:"topic_prefix"`
	// Namespace is the lake namespace (Iceberg database) of the source's
	// tables; "{db}" stands for the source database (MySQL) or schema
	// (PostgreSQL), "{prefix}" for TopicPrefix. Default "{db}".
	Namespace string `yaml:"namespace"`
	// Tables gives per-table options by "database.table".
	Tables map[string]LakeTable `yaml:"tables"`
	// Properties are added to the properties of every table of the source,
	// such as owner: team-payments.
	Properties map[string]string `yaml:"properties"`
}

// LakeTable holds the options of one lake table.
type LakeTable struct {
	// PartitionBy is the date or timestamp column whose day (or
	// Granularity) partitions the table. Unset means unpartitioned.
	PartitionBy string `yaml:"partition_by"`
	// Granularity is the partition transform; default GranularityDay.
	Granularity Granularity `yaml:"granularity"`
	// WriteMode says how updates and deletes reach the table's files;
	// default WriteMergeOnRead.
	WriteMode WriteMode `yaml:"write_mode"`
}

// WriteMode is how a lake table applies updates and deletes.
type WriteMode string

// Write modes.
const (
	// WriteMergeOnRead adds position delete files (cheap writes).
	WriteMergeOnRead WriteMode = "merge-on-read"
	// WriteCopyOnWrite writes again the data files rows are deleted from
	// (for engines that read no delete files; costly writes).
	WriteCopyOnWrite WriteMode = "copy-on-write"
)

// Granularity is the time unit of a partition transform.
type Granularity string

// Partition granularities.
const (
	GranularityDay   Granularity = "day"
	GranularityHour  Granularity = "hour"
	GranularityMonth Granularity = "month"
)

// LakeCommit says when a table's pending changes are committed.
type LakeCommit struct {
	// Interval is the longest a change waits for its commit; default 30s.
	Interval Duration `yaml:"interval"`
	// MaxRows commits a table early once this many changes are pending;
	// default 100000.
	MaxRows int `yaml:"max_rows"`
}

// LakeMaintenance says how often the compactors maintain their tables:
// rewrite data files that carry many deleted rows or are small, drop the
// delete files that no longer apply, and expire old snapshots.
type LakeMaintenance struct {
	// Interval is the time between two maintenance runs of a table;
	// default 10m.
	Interval Duration `yaml:"interval"`
	// SnapshotAge is the age past which snapshots are expired; default 1h.
	SnapshotAge Duration `yaml:"snapshot_age"`
	// OrphanAge is the age past which a file no snapshot references is
	// removed (a write whose commit failed); default 1h.
	OrphanAge Duration `yaml:"orphan_age"`
}

// CatalogKind is an Iceberg catalog implementation.
type CatalogKind string

// Catalog kinds.
const (
	CatalogSQL  CatalogKind = "sql"  // SQLite or PostgreSQL, the JDBC catalog's layout
	CatalogGlue CatalogKind = "glue" // AWS Glue Data Catalog
	CatalogREST CatalogKind = "rest" // Iceberg REST catalog
)

// LoadLake reads, parses and validates the lake config file at path.
func LoadLake(path string) (*Lake, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseLake(path, data)
}

// ParseLake parses and validates a lake config, like ParseSource. Name is
// the file name used in error messages.
func ParseLake(name string, data []byte) (*Lake, error) {
	var l Lake
	pos, err := decodeFile(name, data, &l, os.LookupEnv)
	if err != nil {
		return nil, err
	}
	l.ApplyDefaults()
	if err := l.Validate(); err != nil {
		return nil, locate(name, err, pos)
	}
	return &l, nil
}

// ApplyDefaults fills every unset field that has a default. It is idempotent.
func (l *Lake) ApplyDefaults() {
	setDefault(&l.Kafka.Group, "tributary-compactor")
	setDefault(&l.Kafka.SessionTimeout, Duration(10*time.Second))
	setDefault(&l.Kafka.FetchAhead, 32*MiB)
	l.Kafka.TLS.applyDefaults()
	if l.Kafka.UsesEmbeddedBroker() {
		if l.Warehouse.Path != "" {
			setDefault(&l.Kafka.Embedded.Dir, filepath.Join(l.Warehouse.Path, "_kafka"))
		}
		setDefault(&l.Kafka.Embedded.Listen, "127.0.0.1:9092")
	}
	setDefault(&l.Catalog.Kind, CatalogSQL)
	for i := range l.Sources {
		src := &l.Sources[i]
		setDefault(&src.Namespace, "{db}")
		for name, t := range src.Tables {
			if t.PartitionBy != "" {
				setDefault(&t.Granularity, GranularityDay)
			}
			setDefault(&t.WriteMode, WriteMergeOnRead)
			src.Tables[name] = t
		}
	}
	setDefault(&l.Commit.Interval, Duration(30*time.Second))
	setDefault(&l.Commit.MaxRows, 100000)
	setDefault(&l.Maintenance.Interval, Duration(10*time.Minute))
	setDefault(&l.Maintenance.SnapshotAge, Duration(time.Hour))
	setDefault(&l.Maintenance.OrphanAge, Duration(time.Hour))
	l.Log.applyDefaults()
	l.Notify.applyDefaults()
}

// Validate reports every problem with l, joined with errors.Join, each
// naming the key path, what is wrong and how to fix it. Call ApplyDefaults
// first.
func (l *Lake) Validate() error {
	var p problems
	checkBrokers(&p, "kafka.brokers", l.Kafka.Brokers)
	if l.Kafka.Group == "" {
		p.add("kafka.group", "must not be empty; remove it to use tributary-compactor")
	}
	if a := l.Kafka.FetchAhead; a < 64*KiB || a > 4*GiB {
		p.add("kafka.fetch_ahead", "%s is out of range; use 64KiB to 4GiB, such as 32MiB (per table)", a)
	}
	if t := l.Kafka.SessionTimeout; t < Duration(6*time.Second) || t > Duration(5*time.Minute) {
		p.add("kafka.session_timeout", "%s is out of range; use 6s to 5m (the brokers' group.min/max.session.timeout.ms)", t)
	}
	checkSASL(&p, "kafka.sasl", l.Kafka.SASL)
	l.Kafka.TLS.validate(&p, "kafka.tls")
	if e := l.Kafka.Embedded; l.Kafka.UsesEmbeddedBroker() {
		if _, _, err := net.SplitHostPort(e.Listen); err != nil {
			p.add("kafka.embedded.listen", "%q is not host:port; use e.g. 127.0.0.1:9092", e.Listen)
		}
	}
	w := l.Warehouse
	switch {
	case w.Path == "" && w.S3 == nil:
		p.add("warehouse", "set path (a local folder) or s3 (a bucket)")
	case w.Path != "" && w.S3 != nil:
		p.add("warehouse", "both path and s3 are set; keep one")
	case w.S3 != nil && w.S3.Bucket == "":
		p.add("warehouse.s3.bucket", "required; set it to the bucket name")
	case w.S3 != nil && strings.Contains(w.S3.Bucket, "/"):
		p.add("warehouse.s3.bucket", "%q holds a \"/\"; put the bucket name here and the rest in warehouse.s3.prefix", w.S3.Bucket)
	}
	if w.S3 != nil && (w.S3.AccessKeyID == "") != (w.S3.SecretAccessKey == "") {
		p.add("warehouse.s3.secret_access_key", "set both access_key_id and secret_access_key, or neither to use the AWS SDK's credential chain")
	}
	l.validateCatalog(&p)
	l.validateSources(&p)
	checkPositive(&p, "commit.interval", l.Commit.Interval)
	checkPositive(&p, "maintenance.interval", l.Maintenance.Interval)
	checkPositive(&p, "maintenance.snapshot_age", l.Maintenance.SnapshotAge)
	if l.Maintenance.OrphanAge < Duration(10*time.Minute) {
		p.add("maintenance.orphan_age", "%s is too short: a compactor's files wait up to a commit before they are referenced; use 10m or more", l.Maintenance.OrphanAge)
	}
	if l.Commit.MaxRows <= 0 {
		p.add("commit.max_rows", "%d is not positive; remove it to use 100000", l.Commit.MaxRows)
	}
	l.Metrics.validate(&p)
	l.Log.validate(&p)
	l.Notify.validate(&p)
	return p.err()
}

func (l *Lake) validateCatalog(p *problems) {
	c := l.Catalog
	checkEnum(p, "catalog.kind", c.Kind, CatalogSQL, CatalogGlue, CatalogREST)
	switch {
	case c.Kind == CatalogSQL && c.URI == "" && l.Warehouse.S3 != nil && l.Warehouse.Path == "":
		p.add("catalog.uri", "required for a sql catalog with an S3 warehouse; set it to a PostgreSQL URL such as postgres://tributary@db:5432/lake (the SQLite default needs warehouse.path)")
	case c.Kind == CatalogSQL && c.URI != "" && !hasAnyPrefix(c.URI.Reveal(), "postgres://", "postgresql://", "sqlite:"):
		p.add("catalog.uri", "is neither a PostgreSQL URL nor a SQLite path; write postgres://user@host:5432/db or sqlite:/path/to/catalog.db")
	case c.Kind == CatalogREST && c.URI == "":
		p.add("catalog.uri", "required for a rest catalog; set it to the catalog's base URL, such as https://polaris.internal:8181/api/catalog")
	case c.Kind == CatalogREST && !isHTTPURL(c.URI.Reveal()):
		p.add("catalog.uri", "is not an http:// or https:// URL; set it to the catalog's base URL, such as https://polaris.internal:8181/api/catalog")
	case c.Kind == CatalogGlue && c.URI != "":
		p.add("catalog.uri", "not used by the glue catalog; remove it (set catalog.glue.region, or warehouse.s3.region, instead)")
	case c.Kind == CatalogGlue && l.Warehouse.S3 == nil:
		p.add("catalog.kind", "glue needs the warehouse on S3; set warehouse.s3, or use kind: sql with a local warehouse")
	}
	if c.Kind != CatalogGlue && c.Glue != (GlueCatalog{}) {
		p.add("catalog.glue", "set, but catalog.kind is %s; remove it or set kind: glue", c.Kind)
	}
	if c.Kind != CatalogREST && c.REST != (RESTCatalog{}) {
		p.add("catalog.rest", "set, but catalog.kind is %s; remove it or set kind: rest", c.Kind)
	}
	if e := c.Glue.Endpoint; e != "" && !isHTTPURL(e) {
		p.add("catalog.glue.endpoint", "%q is not an http:// or https:// URL; write it like https://glue.eu-west-1.amazonaws.com", e)
	}
	if id := c.Glue.CatalogID; id != "" && !awsAccountRE.MatchString(id) {
		p.add("catalog.glue.catalog_id", "%q is not an AWS account id (12 digits)", id)
	}
	r := c.REST
	switch {
	case r.Token != "" && (r.ClientID != "" || r.ClientSecret != ""):
		p.add("catalog.rest.token", "set together with client_id/client_secret; keep one way to authenticate")
	case r.ClientID != "" && r.ClientSecret == "":
		p.add("catalog.rest.client_secret", "required with client_id; use ${ENV} or file:/path")
	case r.SigV4 && (r.Token != "" || r.ClientSecret != ""):
		p.add("catalog.rest.sigv4", "signs the requests with AWS keys and cannot be combined with token or client credentials; keep one")
	}
	if r.OAuthURI != "" && !isHTTPURL(r.OAuthURI) {
		p.add("catalog.rest.oauth_uri", "%q is not an http:// or https:// URL", r.OAuthURI)
	}
	if r.OAuthURI != "" && r.ClientSecret == "" {
		p.add("catalog.rest.oauth_uri", "used only with client_id and client_secret; set them or remove oauth_uri")
	}
	if !r.SigV4 && (r.SigningRegion != "" || r.SigningName != "") {
		p.add("catalog.rest.sigv4", "signing_region and signing_name need sigv4: true")
	}
}

// awsAccountRE matches an AWS account id.
var awsAccountRE = regexp.MustCompile(`^[0-9]{12}$`)

// isHTTPURL reports whether s is an absolute http or https URL with a host.
func isHTTPURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// namespaceRE matches what a namespace holds besides its placeholders.
var namespaceRE = regexp.MustCompile(`^[A-Za-z0-9_-]*$`)

func (l *Lake) validateSources(p *problems) {
	if len(l.Sources) == 0 {
		p.add("sources", "required; list the readers to compact, such as [{topic_prefix: orders-db}]")
	}
	seen := map[string]bool{}
	for i, src := range l.Sources {
		key := index("sources", i)
		switch {
		case src.TopicPrefix == "":
			p.add(join(key, "topic_prefix"), "required; set it to the reader's kafka.topic_prefix (its name by default)")
		case !topicRE.MatchString(src.TopicPrefix):
			p.add(join(key, "topic_prefix"), "%q is not a Kafka topic prefix; use letters, digits, \".\", \"_\" and \"-\"", src.TopicPrefix)
		case seen[src.TopicPrefix]:
			p.add(join(key, "topic_prefix"), "%q is listed twice; keep one", src.TopicPrefix)
		}
		seen[src.TopicPrefix] = true
		if rest := strings.NewReplacer("{db}", "", "{prefix}", "").Replace(src.Namespace); src.Namespace == "" || !namespaceRE.MatchString(rest) {
			p.add(join(key, "namespace"), "%q is not a namespace; use letters, digits, \"_\", \"-\", \"{db}\" and \"{prefix}\"", src.Namespace)
		}
		for _, name := range slices.Sorted(maps.Keys(src.Tables)) {
			t := src.Tables[name]
			tkey := mapKey(join(key, "tables"), name)
			if db, tbl, ok := strings.Cut(name, "."); !ok || db == "" || tbl == "" {
				p.add(tkey, "%q is not database.table; write it like shop.orders", name)
			}
			checkEnum(p, join(tkey, "write_mode"), t.WriteMode, WriteMergeOnRead, WriteCopyOnWrite)
			if t.PartitionBy == "" {
				if t.Granularity != "" {
					p.add(join(tkey, "granularity"), "set without partition_by; name the date or timestamp column to partition by in partition_by")
				}
				continue
			}
			checkEnum(p, join(tkey, "granularity"), t.Granularity, GranularityDay, GranularityHour, GranularityMonth)
		}
	}
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
