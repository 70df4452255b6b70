package config

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// keyPaths returns the path of every leaf key of struct type t: keys whose
// value is not itself a block of keys.
func keyPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i, k := range yamlKeys(t) {
		p := join(prefix, k)
		ft := t.Field(i).Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct {
			out = append(out, keyPaths(ft, p)...)
		} else {
			out = append(out, p)
		}
	}
	return out
}

// documentedKeys returns the keys named in the first cell of each row of
// the tables headed "| Key |" in a docs/config.md section.
func documentedKeys(section string) []string {
	cell := regexp.MustCompile("`([^`]+)`")
	var keys []string
	inKeyTable := false
	for line := range strings.Lines(section) {
		if strings.HasPrefix(line, "| Key |") {
			inKeyTable = true
		}
		if !strings.HasPrefix(line, "|") {
			inKeyTable = false
		}
		if !inKeyTable || !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1]
		for _, m := range cell.FindAllStringSubmatch(first, -1) {
			keys = append(keys, m[1])
		}
	}
	return keys
}

// TestDocsListEveryKey keeps docs/config.md and the config structs in step:
// every key of Source and Lake has a row in its section, and every row
// names a key that exists.
func TestDocsListEveryKey(t *testing.T) {
	data, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	source, lake, ok := strings.Cut(string(data), "\n## Lake config")
	if !ok {
		t.Fatal(`docs/config.md has no "## Lake config" section`)
	}
	for _, c := range []struct {
		name    string
		typ     reflect.Type
		section string
	}{
		{"source", reflect.TypeFor[Source](), source},
		{"lake", reflect.TypeFor[Lake](), lake},
	} {
		want := keyPaths(c.typ, "")
		documented := documentedKeys(c.section)
		for _, k := range want {
			if !slices.Contains(documented, k) {
				t.Errorf("%s key %s is not documented in docs/config.md; add a table row for it", c.name, k)
			}
		}
		for _, k := range documented {
			if !slices.Contains(want, k) {
				t.Errorf("docs/config.md documents %s key %s, which does not exist", c.name, k)
			}
		}
	}
}
