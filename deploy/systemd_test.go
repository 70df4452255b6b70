package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unit is a parsed systemd unit file: section -> key -> values in order
// (a key may repeat).
type unit map[string]map[string][]string

func (u unit) get(section, key string) string {
	v := u[section][key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// parseUnit reads a unit file: [Section] headers, Key=Value lines, # and ;
// comments, and backslash continuations.
func parseUnit(path string) (unit, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	n, pending := 0, ""
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if strings.HasSuffix(line, "\\") {
			pending += strings.TrimSuffix(line, "\\") + " "
			continue
		}
		line, pending = pending+line, ""
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("%s:%d: not a Key=Value line in a section: %q", path, n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

// TestSystemdUnits checks the hardening and restart policy of the units,
// and runs systemd-analyze verify on them when it is installed.
func TestSystemdUnits(t *testing.T) {
	units := map[string]struct{ command, config string }{
		"tributary-reader@.service":   {"reader", "/etc/tributary/sources/%i.yaml"},
		"tributary-compactor.service": {"compactor", "/etc/tributary/lake.yaml"},
	}
	for name, want := range units {
		t.Run(name, func(t *testing.T) {
			u, err := parseUnit(filepath.Join("systemd", name))
			if err != nil {
				t.Fatal(err)
			}
			exec := strings.Fields(u.get("Service", "ExecStart"))
			if len(exec) != 4 || exec[0] != "/usr/local/bin/tributary" || exec[1] != want.command || exec[2] != "-c" || exec[3] != want.config {
				t.Errorf("ExecStart = %q, want /usr/local/bin/tributary %s -c %s", u.get("Service", "ExecStart"), want.command, want.config)
			}
			for k, v := range map[string]string{
				"Restart": "on-failure", "KillSignal": "SIGTERM", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
				"ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "",
			} {
				if got, ok := u["Service"][k]; !ok || got[len(got)-1] != v {
					t.Errorf("Service.%s = %q, want %q", k, got, v)
				}
			}
			if u.get("Service", "DynamicUser") != "yes" && u.get("Service", "User") == "" {
				t.Error("the service runs as root: set DynamicUser=yes or User=")
			}
			codes := strings.Fields(u.get("Service", "RestartPreventExitStatus"))
			if !slices.Contains(codes, "2") || !slices.Contains(codes, "3") {
				t.Errorf("RestartPreventExitStatus = %v, want 2 and 3 (config and source-fatal exits)", codes)
			}
			if s := u.get("Service", "TimeoutStopSec"); s == "" || s == "infinity" {
				t.Errorf("TimeoutStopSec = %q: give the drain a bound", s)
			}
			if u.get("Install", "WantedBy") != "multi-user.target" {
				t.Errorf("Install.WantedBy = %q", u.get("Install", "WantedBy"))
			}
		})
	}
	t.Run("systemd-analyze", func(t *testing.T) {
		analyze, err := exec.LookPath("systemd-analyze")
		if err != nil {
			t.Log("systemd-analyze is not installed: only the parse checks above ran")
			return
		}
		// verify wants the ExecStart binary to exist and a template to be
		// instantiated: copy the units with this test's own executable in
		// place of /usr/local/bin/tributary.
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		copies := map[string]string{"tributary-reader@.service": "tributary-reader@orders.service", "tributary-compactor.service": "tributary-compactor.service"}
		var paths []string
		for src, dst := range copies {
			data, err := os.ReadFile(filepath.Join("systemd", src))
			if err != nil {
				t.Fatal(err)
			}
			data = bytes.ReplaceAll(data, []byte("/usr/local/bin/tributary"), []byte(self))
			p := filepath.Join(dir, dst)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
		}
		slices.Sort(paths)
		out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput()
		// verify exits 0 on unknown keys and bad values; it only warns.
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})
}
