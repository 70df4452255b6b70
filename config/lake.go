package config

import (
	"os"
	"strings"
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
	// Metrics configures the HTTP listener for /metrics, /healthz, /readyz.
	Metrics Metrics `yaml:"metrics"`
	// Log configures logging.
	Log Log `yaml:"log"`
}

// LakeKafka is the Kafka cluster compactors consume from.
type LakeKafka struct {
	// Brokers are the seed brokers as host:port. Empty means the embedded
	// broker of `tributary demo` and `tributary run`.
	Brokers []string `yaml:"brokers"`
	// Group is the consumer group shared by all compactors; default
	// "tributary-compactor".
	Group string `yaml:"group"`
	// SASL is the authentication; nil means none.
	SASL *SASL `yaml:"sasl"`
	// TLS configures the connection's TLS.
	TLS TLS `yaml:"tls"`
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

// S3 is an S3 or S3-compatible bucket. Credentials come from the AWS SDK's
// usual chain (environment, shared config, instance role).
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
}

// Catalog is the Iceberg catalog.
type Catalog struct {
	// Kind is the catalog implementation; default CatalogSQL.
	Kind CatalogKind `yaml:"kind"`
	// URI locates the catalog: a database URL for CatalogSQL (empty means a
	// SQLite file in a local warehouse), the endpoint for CatalogREST.
	// It is a Secret because database URLs often hold a password.
	URI Secret `yaml:"uri"`
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
	l.Kafka.TLS.applyDefaults()
	setDefault(&l.Catalog.Kind, CatalogSQL)
	l.Log.applyDefaults()
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
	checkSASL(&p, "kafka.sasl", l.Kafka.SASL)
	l.Kafka.TLS.validate(&p, "kafka.tls")
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
	l.validateCatalog(&p)
	l.Metrics.validate(&p)
	l.Log.validate(&p)
	return p.err()
}

func (l *Lake) validateCatalog(p *problems) {
	c := l.Catalog
	checkEnum(p, "catalog.kind", c.Kind, CatalogSQL, CatalogGlue, CatalogREST)
	switch {
	case c.Kind == CatalogSQL && c.URI == "" && l.Warehouse.S3 != nil && l.Warehouse.Path == "":
		p.add("catalog.uri", "required for a sql catalog with an S3 warehouse; set it to a PostgreSQL URL such as postgres://tributary@db:5432/lake (the SQLite default needs warehouse.path)")
	case c.Kind == CatalogREST && c.URI == "":
		p.add("catalog.uri", "required for a rest catalog; set it to the catalog's base URL, such as https://polaris.internal:8181/api/catalog")
	case c.Kind == CatalogGlue && c.URI != "":
		p.add("catalog.uri", "not used by the glue catalog; remove it (the region comes from warehouse.s3.region)")
	case c.Kind == CatalogGlue && l.Warehouse.S3 == nil:
		p.add("catalog.kind", "glue needs the warehouse on S3; set warehouse.s3, or use kind: sql with a local warehouse")
	}
}
