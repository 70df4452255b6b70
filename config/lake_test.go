package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseLakeCatalogs(t *testing.T) {
	t.Setenv("REST_SECRET", "s3cr3t")
	l, err := ParseLake("lake.yaml", []byte("warehouse:\n  s3: {bucket: b, region: eu-west-1}\ncatalog:\n  kind: rest\n  uri: https://polaris:8181/api/catalog\n"+
		"  rest:\n    warehouse: lake\n    client_id: tributary\n    client_secret: ${REST_SECRET}\n    scope: PRINCIPAL_ROLE:ALL\nsources: [{topic_prefix: a}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := RESTCatalog{Warehouse: "lake", ClientID: "tributary", ClientSecret: "s3cr3t", Scope: "PRINCIPAL_ROLE:ALL"}
	if l.Catalog.REST != want {
		t.Errorf("rest = %+v, want %+v", l.Catalog.REST, want)
	}
	l, err = ParseLake("lake.yaml", []byte("warehouse:\n  s3: {bucket: b}\ncatalog:\n  kind: glue\n"+
		"  glue: {region: eu-west-1, catalog_id: \"123456789012\", endpoint: \"https://glue.eu-west-1.amazonaws.com\"}\nsources: [{topic_prefix: a}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g := (GlueCatalog{Region: "eu-west-1", CatalogID: "123456789012", Endpoint: "https://glue.eu-west-1.amazonaws.com"}); l.Catalog.Glue != g {
		t.Errorf("glue = %+v, want %+v", l.Catalog.Glue, g)
	}
}

func TestParseLake(t *testing.T) {
	l, err := ParseLake("lake.yaml", []byte("warehouse:\n  path: /var/lib/tributary/lake\nsources:\n  - topic_prefix: orders-db\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Lake{
		Kafka: LakeKafka{Group: "tributary-compactor", SessionTimeout: Duration(10 * time.Second), FetchAhead: 32 * MiB, TLS: TLS{Mode: TLSDisable},
			Embedded: EmbeddedKafka{Dir: "/var/lib/tributary/lake/_kafka", Listen: "127.0.0.1:9092"}},
		Warehouse:   Warehouse{Path: "/var/lib/tributary/lake"},
		Catalog:     Catalog{Kind: CatalogSQL},
		Sources:     []LakeSource{{TopicPrefix: "orders-db", Namespace: "{db}"}},
		Commit:      LakeCommit{Interval: Duration(30 * time.Second), MaxRows: 100000},
		Maintenance: LakeMaintenance{Interval: Duration(10 * time.Minute), SnapshotAge: Duration(time.Hour), OrphanAge: Duration(time.Hour)},
		Log:         Log{Level: LogInfo, Format: LogText},
	}
	if !reflect.DeepEqual(l, want) || !l.Kafka.UsesEmbeddedBroker() {
		t.Errorf("got %+v, want %+v", l, want)
	}

	tests := []struct {
		name, doc string
		want      []string
	}{{
		name: "typo",
		doc:  "warehous:\n  path: x\nsources: [{topic_prefix: a}]\n",
		want: []string{`unknown key "warehous" at lake.yaml:1:1; did you mean "warehouse"?`},
	}, {
		name: "no warehouse",
		doc:  "catalog:\n  kind: rest\nsources: [{topic_prefix: a}]\n",
		want: []string{
			`warehouse in lake.yaml: set path (a local folder) or s3 (a bucket)`,
			`catalog.uri in lake.yaml: required for a rest catalog; set it to the catalog's base URL, such as https://polaris.internal:8181/api/catalog`,
		},
	}, {
		name: "both warehouses",
		doc:  "warehouse:\n  path: x\n  s3: {bucket: b}\nsources: [{topic_prefix: a}]\n",
		want: []string{`warehouse at lake.yaml:1:1: both path and s3 are set; keep one`},
	}, {
		name: "string for a bool",
		doc:  "warehouse:\n  s3:\n    path_style: yes\nsources: [{topic_prefix: a}]\n",
		want: []string{`warehouse.s3.path_style at lake.yaml:3:17: expected true or false, got "yes"`},
	}, {
		name: "s3 without bucket",
		doc:  "warehouse:\n  s3:\n    region: eu-west-1\ncatalog:\n  uri: postgres://db/lake\nsources: [{topic_prefix: a}]\n",
		want: []string{`warehouse.s3.bucket in lake.yaml: required; set it to the bucket name`},
	}, {
		name: "s3 problems",
		doc:  "warehouse:\n  s3:\n    bucket: lake/tributary\n    path_style: true\ncatalog:\n  kind: sql\nsources: [{topic_prefix: a}]\n",
		want: []string{
			`warehouse.s3.bucket at lake.yaml:3:5: "lake/tributary" holds a "/"; put the bucket name here and the rest in warehouse.s3.prefix`,
			`catalog.uri in lake.yaml: required for a sql catalog with an S3 warehouse; set it to a PostgreSQL URL such as postgres://tributary@db:5432/lake (the SQLite default needs warehouse.path)`,
		},
	}, {
		name: "glue with a local warehouse",
		doc:  "warehouse:\n  path: x\ncatalog:\n  kind: glue\nsources: [{topic_prefix: a}]\n",
		want: []string{`catalog.kind at lake.yaml:4:3: glue needs the warehouse on S3; set warehouse.s3, or use kind: sql with a local warehouse`},
	}, {
		name: "rest catalog problems",
		doc: "warehouse:\n  path: x\ncatalog:\n  kind: rest\n  uri: polaris:8181\n  glue: {region: eu-west-1}\n  rest:\n    token: t\n    client_id: c\n" +
			"    oauth_uri: /token\n    signing_name: glue\nsources: [{topic_prefix: a}]\n",
		want: []string{
			`catalog.uri at lake.yaml:5:3: is not an http:// or https:// URL; set it to the catalog's base URL, such as https://polaris.internal:8181/api/catalog`,
			`catalog.glue at lake.yaml:6:3: set, but catalog.kind is rest; remove it or set kind: glue`,
			`catalog.rest.token at lake.yaml:8:5: set together with client_id/client_secret; keep one way to authenticate`,
			`catalog.rest.oauth_uri at lake.yaml:10:5: "/token" is not an http:// or https:// URL`,
			`catalog.rest.oauth_uri at lake.yaml:10:5: used only with client_id and client_secret; set them or remove oauth_uri`,
			`catalog.rest.sigv4 in lake.yaml: signing_region and signing_name need sigv4: true`,
		},
	}, {
		name: "rest client id without secret, sigv4 with a token",
		doc:  "warehouse:\n  path: x\ncatalog:\n  kind: rest\n  uri: https://cat/api\n  rest: {client_id: c}\nsources: [{topic_prefix: a}]\n",
		want: []string{`catalog.rest.client_secret in lake.yaml: required with client_id; use ${ENV} or file:/path`},
	}, {
		name: "rest sigv4 with a token",
		doc:  "warehouse:\n  path: x\ncatalog:\n  kind: rest\n  uri: https://cat/api\n  rest: {sigv4: true, token: t}\nsources: [{topic_prefix: a}]\n",
		want: []string{`catalog.rest.sigv4 at lake.yaml:6:10: signs the requests with AWS keys and cannot be combined with token or client credentials; keep one`},
	}, {
		name: "glue problems",
		doc: "warehouse:\n  s3: {bucket: b}\ncatalog:\n  kind: glue\n  uri: https://glue\n  glue: {catalog_id: acme, endpoint: glue.local}\n" +
			"  rest: {warehouse: w}\nsources: [{topic_prefix: a}]\n",
		want: []string{
			`catalog.uri at lake.yaml:5:3: not used by the glue catalog; remove it (set catalog.glue.region, or warehouse.s3.region, instead)`,
			`catalog.rest at lake.yaml:7:3: set, but catalog.kind is glue; remove it or set kind: rest`,
			`catalog.glue.endpoint at lake.yaml:6:28: "glue.local" is not an http:// or https:// URL; write it like https://glue.eu-west-1.amazonaws.com`,
			`catalog.glue.catalog_id at lake.yaml:6:10: "acme" is not an AWS account id (12 digits)`,
		},
	}, {
		name: "half the s3 credentials",
		doc:  "warehouse:\n  s3:\n    bucket: b\n    access_key_id: k\ncatalog:\n  uri: postgres://db/lake\nsources: [{topic_prefix: a}]\n",
		want: []string{`warehouse.s3.secret_access_key in lake.yaml: set both access_key_id and secret_access_key, or neither to use the AWS SDK's credential chain`},
	}, {
		name: "fetch ahead out of range",
		doc:  "kafka:\n  fetch_ahead: 1KiB\nwarehouse:\n  path: x\nsources: [{topic_prefix: a}]\n",
		want: []string{`kafka.fetch_ahead at lake.yaml:2:3: 1KiB is out of range; use 64KiB to 4GiB, such as 32MiB (per table)`},
	}, {
		name: "no sources",
		doc:  "warehouse:\n  path: x\n",
		want: []string{`sources in lake.yaml: required; list the readers to compact, such as [{topic_prefix: orders-db}]`},
	}, {
		name: "source problems",
		doc: "warehouse:\n  path: x\nsources:\n  - topic_prefix: a\n    namespace: \"{db}.x\"\n    tables:\n      orders: {partition_by: created}\n" +
			"  - topic_prefix: a\n    tables:\n      shop.t: {granularity: day}\n      shop.u: {partition_by: c, granularity: week, write_mode: cow}\n  - {}\n" +
			"commit:\n  interval: -5s\n  max_rows: -1\n",
		want: []string{
			`sources[0].namespace at lake.yaml:5:5: "{db}.x" is not a namespace; use letters, digits, "_", "-", "{db}" and "{prefix}"`,
			`sources[0].tables["orders"] at lake.yaml:7:7: "orders" is not database.table; write it like shop.orders`,
			`sources[1].topic_prefix at lake.yaml:8:5: "a" is listed twice; keep one`,
			`sources[1].tables["shop.t"].granularity at lake.yaml:10:16: set without partition_by; name the date or timestamp column to partition by in partition_by`,
			`sources[1].tables["shop.u"].write_mode at lake.yaml:11:52: "cow" is not valid; use one of merge-on-read, copy-on-write`,
			`sources[1].tables["shop.u"].granularity at lake.yaml:11:33: "week" is not valid; use one of day, hour, month`,
			`sources[2].topic_prefix in lake.yaml: required; set it to the reader's kafka.topic_prefix (its name by default)`,
			`commit.interval at lake.yaml:14:3: -5s is not positive; use a duration such as 10s`,
			`commit.max_rows at lake.yaml:15:3: -1 is not positive; remove it to use 100000`,
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLake("lake.yaml", []byte(tt.doc))
			if got := errLines(err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
