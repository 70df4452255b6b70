// The Grafana dashboard and the Prometheus alert rules, checked against the
// metrics registry and with promtool.

package deploy

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/metrics"
)

const (
	alertsFile     = "prometheus/alerts.yml"
	alertsTestFile = "prometheus/alerts_test.yml"
	dashboardFile  = "grafana/tributary.json"
)

// promtoolPath returns promtool's path; the test fails when it is missing
// (scripts/install-deps.sh installs it with the prometheus package).
func promtoolPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatalf("promtool not found (%v): run scripts/install-deps.sh, which installs the Debian package prometheus", err)
	}
	return path
}

func runPromtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command(promtoolPath(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
}

// TestAlertRules checks the rules and runs their unit tests.
func TestAlertRules(t *testing.T) {
	runPromtool(t, ".", "check", "rules", alertsFile)
	runPromtool(t, "prometheus", "test", "rules", strings.TrimPrefix(alertsTestFile, "prometheus/"))
}

// TestEveryAlertTested: each alert of alerts.yml has a unit test.
func TestEveryAlertTested(t *testing.T) {
	rules, tests := readDeployFile(t, alertsFile), readDeployFile(t, alertsTestFile)
	names := regexp.MustCompile(`(?m)^\s*- alert: (\S+)`).FindAllStringSubmatch(rules, -1)
	if len(names) == 0 {
		t.Fatalf("%s: no alerts found", alertsFile)
	}
	for _, n := range names {
		if !regexp.MustCompile(`alertname: ` + regexp.QuoteMeta(n[1]) + `\s`).MatchString(tests) {
			t.Errorf("alert %s has no test in %s", n[1], alertsTestFile)
		}
	}
}

// TestDashboardParses checks the dashboard is JSON Grafana can import:
// panels with queries, and a Prometheus data source variable.
func TestDashboardParses(t *testing.T) {
	var d struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(readDeployFile(t, dashboardFile)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) == 0 {
		t.Fatalf("%s: title %q, uid %q, %d panels", dashboardFile, d.Title, d.UID, len(d.Panels))
	}
	ds := false
	for _, v := range d.Templating.List {
		ds = ds || v.Type == "datasource"
	}
	if !ds {
		t.Errorf("%s: no data source variable", dashboardFile)
	}
	for _, p := range d.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			if !strings.Contains(q.Expr, "tributary_") {
				t.Errorf("panel %q: query %q reads no tributary metric", p.Title, q.Expr)
			}
		}
	}
}

// TestReferencedMetricsExist: every tributary_ metric the dashboard and
// the rules name is in the registry, and every registered metric is on
// the dashboard.
func TestReferencedMetricsExist(t *testing.T) {
	defs := map[string]metrics.Definition{}
	for _, d := range metrics.Definitions() {
		defs[d.Name] = d
	}
	known := func(name string) bool {
		if _, ok := defs[name]; ok {
			return true
		}
		for _, suffix := range []string{"_bucket", "_count", "_sum"} {
			if d, ok := defs[strings.TrimSuffix(name, suffix)]; ok && strings.HasSuffix(name, suffix) && d.Type == metrics.Histogram {
				return true
			}
		}
		return false
	}
	name := regexp.MustCompile(`tributary_[a-z0-9_]*[a-z0-9]`)
	onDashboard := map[string]bool{}
	for _, file := range []string{dashboardFile, alertsFile, alertsTestFile} {
		for _, n := range name.FindAllString(readDeployFile(t, file), -1) {
			if !known(n) {
				t.Errorf("%s names %s, which the registry does not have", file, n)
			}
			if file == dashboardFile {
				onDashboard[strings.TrimSuffix(n, "_bucket")] = true
			}
		}
	}
	for n := range defs {
		if !onDashboard[n] {
			t.Errorf("%s is on no panel of %s", n, dashboardFile)
		}
	}
}

func readDeployFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
