package config

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestExamples loads every file in examples/: lake*.yaml as a lake config,
// the rest as source configs. Each must parse and pass Validate.
func TestExamples(t *testing.T) {
	for _, v := range []string{"ORDERS_DB_PASSWORD", "BILLING_DB_PASSWORD", "KAFKA_PASSWORD", "LAKE_REST_CLIENT_SECRET"} {
		t.Setenv(v, "example-"+strings.ToLower(v))
	}
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 3 {
		t.Fatalf("found %d example files, want at least mysql.yaml, postgres.yaml and lake.yaml", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if strings.HasPrefix(filepath.Base(f), "lake") {
				if _, err := LoadLake(f); err != nil {
					t.Error(err)
				}
				return
			}
			s, err := LoadSource(f)
			if err != nil {
				t.Fatal(err)
			}
			if s.Kafka.UsesEmbeddedBroker() {
				t.Error("example has no kafka.brokers; `tributary reader` needs them")
			}
		})
	}
}
