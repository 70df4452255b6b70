package metrics

import (
	"bufio"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// docRow is one row of the table in docs/metrics.md.
type docRow struct {
	typ    string
	labels []string
}

// readDocTable parses the metric table of docs/metrics.md.
func readDocTable(t *testing.T) map[string]docRow {
	t.Helper()
	f, err := os.Open("../docs/metrics.md")
	if err != nil {
		t.Fatalf("open metrics doc: %v", err)
	}
	defer f.Close()
	rows := map[string]docRow{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "| `tributary_") {
			continue
		}
		cells := strings.Split(line, "|")
		if len(cells) < 6 {
			t.Fatalf("metrics doc: malformed row %q", line)
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, dup := rows[name]; dup {
			t.Errorf("metrics doc: %s listed twice", name)
		}
		var labels []string
		for _, l := range strings.Split(cells[3], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		rows[name] = docRow{typ: strings.TrimSpace(cells[2]), labels: labels}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

var descRE = regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)

// registered returns the label names of every tributary_ metric the
// registry's collectors describe.
func registered(t *testing.T, r *Registry) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range r.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	for d := range ch {
		m := descRE.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot parse descriptor %s", d)
		}
		if !strings.HasPrefix(m[1], "tributary_") {
			continue
		}
		var labels []string
		if m[2] != "" {
			labels = strings.Split(m[2], ",")
		}
		out[m[1]] = labels
	}
	return out
}

// TestDocMatchesRegistry keeps docs/metrics.md equal to the metrics the
// registry registers: names, types and labels.
func TestDocMatchesRegistry(t *testing.T) {
	doc := readDocTable(t)
	reg := registered(t, NewRegistry("test"))
	defs := map[string]Definition{}
	for _, d := range Definitions() {
		defs[d.Name] = d
	}
	for name, labels := range reg {
		row, ok := doc[name]
		if !ok {
			t.Errorf("%s is registered but not in docs/metrics.md", name)
			continue
		}
		if !slices.Equal(row.labels, labels) {
			t.Errorf("%s: docs/metrics.md says labels %v, the registry has %v", name, row.labels, labels)
		}
		if d, ok := defs[name]; !ok {
			t.Errorf("%s is registered but has no Definition", name)
		} else if string(d.Type) != row.typ {
			t.Errorf("%s: docs/metrics.md says %s, it is a %s", name, row.typ, d.Type)
		}
	}
	for name := range doc {
		if _, ok := reg[name]; !ok {
			t.Errorf("%s is in docs/metrics.md but not registered", name)
		}
	}
	if len(reg) != len(definitions) {
		t.Errorf("%d metrics registered, %d defined", len(reg), len(definitions))
	}
}
