package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzSeeds are the example configs and a few broken ones.
func fuzzSeeds(f *testing.F, examples ...string) {
	for _, name := range examples {
		data, err := os.ReadFile(filepath.Join("..", "examples", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"", "---\n---\n", "name: x\ntype: mysql\nmysql:\n\thost: h\n", "a: &x [*x]\n", "<<: {a: 1}\n",
		"name: !env X\n", "mysql: {port: 0x1F, password: 0123}\n", "kafka: {brokers: [\"h:1\"], linger: 10}\n",
		"password: ${UNSET_FUZZ_VAR}\n", "tables: {keys: {a.b: [c]}, include: [\"[\"]}\n",
	} {
		f.Add([]byte(s))
	}
}

// FuzzParseSource: any bytes give a config or an error, never a panic,
// and a config that parses is valid.
func FuzzParseSource(f *testing.F) {
	fuzzSeeds(f, "mysql.yaml", "postgres.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Contains(string(data), "file:") {
			return // file: secrets read the disk; TestFileSecrets covers them
		}
		s, err := ParseSource("fuzz.yaml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("ParseSource accepted a config that Validate refuses: %v", err)
		}
	})
}

// FuzzParseLake is FuzzParseSource for lake configs.
func FuzzParseLake(f *testing.F) {
	fuzzSeeds(f, "lake.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if strings.Contains(string(data), "file:") {
			return // file: secrets read the disk; TestFileSecrets covers them
		}
		l, err := ParseLake("fuzz.yaml", data)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		if err := l.Validate(); err != nil {
			t.Fatalf("ParseLake accepted a config that Validate refuses: %v", err)
		}
	})
}
