package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseLake(t *testing.T) {
	l, err := ParseLake("lake.yaml", []byte("warehouse:\n  path: /var/lib/tributary/lake\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &Lake{
		Kafka:     LakeKafka{Group: "tributary-compactor", TLS: TLS{Mode: TLSDisable}},
		Warehouse: Warehouse{Path: "/var/lib/tributary/lake"},
		Catalog:   Catalog{Kind: CatalogSQL},
		Log:       Log{Level: LogInfo, Format: LogText},
	}
	if !reflect.DeepEqual(l, want) || !l.Kafka.UsesEmbeddedBroker() {
		t.Errorf("got %+v, want %+v", l, want)
	}

	tests := []struct {
		name, doc string
		want      []string
	}{{
		name: "typo",
		doc:  "warehous:\n  path: x\n",
		want: []string{`unknown key "warehous" at lake.yaml:1:1; did you mean "warehouse"?`},
	}, {
		name: "no warehouse",
		doc:  "catalog:\n  kind: rest\n",
		want: []string{
			`warehouse in lake.yaml: set path (a local folder) or s3 (a bucket)`,
			`catalog.uri in lake.yaml: required for a rest catalog; set it to the catalog's base URL, such as https://polaris.internal:8181/api/catalog`,
		},
	}, {
		name: "both warehouses",
		doc:  "warehouse:\n  path: x\n  s3: {bucket: b}\n",
		want: []string{`warehouse at lake.yaml:1:1: both path and s3 are set; keep one`},
	}, {
		name: "string for a bool",
		doc:  "warehouse:\n  s3:\n    path_style: yes\n",
		want: []string{`warehouse.s3.path_style at lake.yaml:3:17: expected true or false, got "yes"`},
	}, {
		name: "s3 without bucket",
		doc:  "warehouse:\n  s3:\n    region: eu-west-1\ncatalog:\n  uri: postgres://db/lake\n",
		want: []string{`warehouse.s3.bucket in lake.yaml: required; set it to the bucket name`},
	}, {
		name: "s3 problems",
		doc:  "warehouse:\n  s3:\n    bucket: lake/tributary\n    path_style: true\ncatalog:\n  kind: sql\n",
		want: []string{
			`warehouse.s3.bucket at lake.yaml:3:5: "lake/tributary" holds a "/"; put the bucket name here and the rest in warehouse.s3.prefix`,
			`catalog.uri in lake.yaml: required for a sql catalog with an S3 warehouse; set it to a PostgreSQL URL such as postgres://tributary@db:5432/lake (the SQLite default needs warehouse.path)`,
		},
	}, {
		name: "glue with a local warehouse",
		doc:  "warehouse:\n  path: x\ncatalog:\n  kind: glue\n",
		want: []string{`catalog.kind at lake.yaml:4:3: glue needs the warehouse on S3; set warehouse.s3, or use kind: sql with a local warehouse`},
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
