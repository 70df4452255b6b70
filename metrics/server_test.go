package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServer serves metrics, health and readiness, an added route, and
// shuts down when its context ends.
func TestServer(t *testing.T) {
	reg := NewRegistry("v1.2.3")
	m := reg.Reader("orders")
	m.Running(true)
	srv := NewServer("127.0.0.1:0", reg, nil)
	srv.Handle("GET /status", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "status page") }))
	srv.SetReady("kafka", errors.New("broker unreachable"))
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	base := "http://" + srv.Addr()

	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, `tributary_build_info{goversion="`) || !strings.Contains(body, `version="v1.2.3"`) ||
		!strings.Contains(body, `tributary_up{component="reader",name="orders"} 1`) || !strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics = %d:\n%s", code, body)
	}
	if code, body := get(t, base+"/status"); code != 200 || body != "status page" {
		t.Errorf("/status = %d %q", code, body)
	}

	code, body = get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "kafka: broker unreachable") || !strings.Contains(body, "reader orders: not streaming") {
		t.Errorf("/readyz = %d %q, want 503 naming both failing checks", code, body)
	}
	code, body = get(t, base+"/readyz", "Accept", "application/json")
	var js struct {
		Ready    bool              `json:"ready"`
		NotReady map[string]string `json:"not_ready"`
	}
	if err := json.Unmarshal([]byte(body), &js); err != nil || code != 503 || js.Ready || len(js.NotReady) != 2 {
		t.Errorf("/readyz as JSON = %d %q (%v)", code, body, err)
	}

	m.Streaming()
	m.Committed()
	srv.SetReady("kafka", nil)
	check := errors.New("still loading")
	srv.AddCheck("catalog", func() error { return check })
	if code, body := get(t, base+"/readyz"); code != 503 || strings.TrimSpace(body) != "catalog: still loading" {
		t.Errorf("/readyz = %d %q, want 503 for the added check only", code, body)
	}
	check = nil
	if code, body := get(t, base+"/readyz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/readyz = %d %q, want 200 ok", code, body)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

// TestServerListenError: a busy address fails with the address and the
// cause.
func TestServerListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := NewServer(ln.Addr().String(), nil, nil)
	err = srv.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Run on a busy address = %v, want an error naming %s and the cause", err, ln.Addr())
	}
}
