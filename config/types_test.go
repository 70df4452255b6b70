package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestSecretRedaction(t *testing.T) {
	t.Setenv("T_PASSWORD", "hunter2")
	src, err := parse(t, minimalMySQL+"  password: ${T_PASSWORD}\nkafka:\n  sasl: {mechanism: plain, user: u, password: hunter2}\n")
	if err != nil {
		t.Fatal(err)
	}
	var logJSON, logText bytes.Buffer
	slog.New(slog.NewJSONHandler(&logJSON, nil)).Info("start", "source", src, "password", src.MySQL.Password)
	slog.New(slog.NewTextHandler(&logText, nil)).Info("start", "source", src, "password", src.MySQL.Password)
	asJSON, err := json.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	asYAML, err := yaml.Marshal(src)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v":        fmt.Sprintf("%v", src.MySQL.Password),
		"%s":        fmt.Sprintf("%s", src.MySQL.Password),
		"%q":        fmt.Sprintf("%q", src.MySQL.Password),
		"%#v":       fmt.Sprintf("%#v", src.MySQL.Password),
		"%+v":       fmt.Sprintf("%+v %+v %+v", src, src.MySQL, *src.Kafka.SASL),
		"%#v block": fmt.Sprintf("%#v", *src.MySQL),
		"slog json": logJSON.String(),
		"slog text": logText.String(),
		"json":      string(asJSON),
		"yaml":      string(asYAML),
	}
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s does not say [redacted]: %s", name, out)
		}
	}
	if !strings.Contains(logJSON.String(), `"password":"[redacted]"`) {
		t.Errorf("slog json: %s", logJSON.String())
	}
	if src.MySQL.Password.Reveal() != "hunter2" {
		t.Errorf("Reveal() = %q", src.MySQL.Password.Reveal())
	}
	var empty Secret
	if j, _ := json.Marshal(empty); empty.String() != "" || string(j) != `""` || fmt.Sprint(empty) != "" {
		t.Errorf("empty secret prints %q, json %s", empty.String(), j)
	}
}

func TestByteSize(t *testing.T) {
	tests := []struct {
		in      string
		want    ByteSize
		wantErr string
	}{
		{in: "16777216", want: 16 * MiB},
		{in: "16MiB", want: 16 * MiB},
		{in: "16 MiB", want: 16 * MiB},
		{in: "16mib", want: 16 * MiB},
		{in: "512KiB", want: 512 * KiB},
		{in: "2GiB", want: 2 * GiB},
		{in: "1TiB", want: 1 << 40},
		{in: "1GB", want: 1_000_000_000},
		{in: "10kb", want: 10_000},
		{in: "100B", want: 100},
		{in: "0", want: 0},
		{in: "1.5GiB", wantErr: `invalid size "1.5GiB"; use a whole number of bytes, or a whole number with a unit such as 512KiB, 16MiB or 1GB`},
		{in: "16 MeB", wantErr: `invalid size "16 MeB"`},
		{in: "MiB", wantErr: `invalid size "MiB"`},
		{in: "-1", wantErr: `size "-1" is negative; sizes are zero or more bytes`},
		{in: "99999999999TiB", wantErr: `size "99999999999TiB" is too large`},
	}
	for _, tt := range tests {
		var b ByteSize
		err := b.UnmarshalText([]byte(tt.in))
		switch {
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("%q: error %v, want %s", tt.in, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || b != tt.want):
			t.Errorf("%q = %d, %v; want %d", tt.in, b, err, tt.want)
		}
	}
	for b, want := range map[ByteSize]string{16 * MiB: "16MiB", 1000: "1KB", 1500: "1500B", 0: "0B", 3 * GiB: "3GiB"} {
		if b.String() != want {
			t.Errorf("%d.String() = %q, want %q", int64(b), b.String(), want)
		}
	}
	s, err := parse(t, minimalMySQL+"kafka:\n  batch_max_bytes: 1048576\n")
	if err != nil || s.Kafka.BatchMaxBytes != MiB {
		t.Errorf("batch_max_bytes: 1048576 = %d, %v", s.Kafka.BatchMaxBytes, err)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "10s", want: 10 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "100ms", want: 100 * time.Millisecond},
		{in: "2h", want: 2 * time.Hour},
		{in: "10", wantErr: `duration "10" has no unit; write 10s or 10ms`},
		{in: "1.5", wantErr: `duration "1.5" has no unit; write 1.5s or 1.5ms`},
		{in: "ten seconds", wantErr: `invalid duration "ten seconds"; use a number with a unit such as 500ms, 10s, 1m30s or 2h`},
		{in: "", wantErr: `invalid duration ""`},
	}
	for _, tt := range tests {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		switch {
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("%q: error %v, want %s", tt.in, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || d.Std() != tt.want):
			t.Errorf("%q = %v, %v; want %v", tt.in, d, err, tt.want)
		}
	}
	if Duration(90*time.Second).String() != "1m30s" {
		t.Errorf("String() = %q", Duration(90*time.Second).String())
	}
}
