package integration

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/lake/iceberg"
)

// localLake is a lake in a local folder with the SQLite catalog, closed
// when the test ends.
func localLake(t *testing.T) *iceberg.Lake {
	l := iceberg.New(iceberg.Config{Warehouse: t.TempDir(), Logger: testLogger(t)})
	t.Cleanup(func() { l.Close() })
	return l
}

// lakeMeta is the part of an Iceberg table metadata file the tests read.
type lakeMeta struct {
	LastSeq int64 `json:"last-sequence-number"`
	Current int   `json:"current-schema-id"`
	Schemas []struct {
		ID     int `json:"schema-id"`
		Fields []struct {
			Name string `json:"name"`
		} `json:"fields"`
	} `json:"schemas"`
	Snapshots []struct {
		Seq     int64             `json:"sequence-number"`
		Summary map[string]string `json:"summary"`
	} `json:"snapshots"`
}

// readLakeMeta reads the current metadata file of lake table ns.name in a
// local warehouse.
func readLakeMeta(t *testing.T, l *iceberg.Lake, ns, name string) lakeMeta {
	t.Helper()
	loc, err := l.MetadataLocation(context.Background(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(strings.TrimPrefix(loc, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	var m lakeMeta
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("metadata %s: %v", loc, err)
	}
	return m
}

// lakeColumns returns the current schema's column names of ns.name.
func lakeColumns(t *testing.T, l *iceberg.Lake, ns, name string) []string {
	t.Helper()
	m := readLakeMeta(t, l, ns, name)
	var out []string
	for _, s := range m.Schemas {
		if s.ID == m.Current {
			for _, f := range s.Fields {
				out = append(out, f.Name)
			}
		}
	}
	return out
}

// lakeSummaries returns the summaries of the snapshots of ns.name the
// metadata still lists.
func lakeSummaries(t *testing.T, l *iceberg.Lake, ns, name string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, s := range readLakeMeta(t, l, ns, name).Snapshots {
		out = append(out, s.Summary)
	}
	return out
}
