package iceberg

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeREST answers /v1/config and /v1/namespaces like a REST catalog,
// checking the bearer token; status, when set, is the answer to
// everything else.
func fakeREST(token string, status int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":{"message":"bad token","type":"NotAuthorizedException","code":401}}`))
			return
		}
		switch {
		case r.URL.Path == "/api/v1/config":
			_, _ = w.Write([]byte(`{"defaults":{},"overrides":{}}`))
		case status != 0:
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error":{"message":"principal may not list namespaces","type":"ForbiddenException","code":403}}`))
		case r.URL.Path == "/api/v1/namespaces":
			_, _ = w.Write([]byte(`{"namespaces":[["shop"]]}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	})
}

// TestRESTCheck checks what Check says about a REST catalog: it answers;
// it refuses the token (which the message must not show); it forbids;
// its certificate is not trusted, until catalog.rest.ca_file names it.
func TestRESTCheck(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewTLSServer(fakeREST("tok", 0))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	forbidding := httptest.NewServer(fakeREST("tok", http.StatusForbidden))
	defer forbidding.Close()
	tests := []struct {
		name string
		rest RESTConfig
		want string // "" means no error
	}{
		{"answers", RESTConfig{URI: srv.URL + "/api", Token: "tok", CAFile: caFile}, ""},
		{"untrusted certificate", RESTConfig{URI: srv.URL + "/api", Token: "tok"}, "set catalog.rest.ca_file"},
		{"wrong token", RESTConfig{URI: srv.URL + "/api", Token: "not-the-token", CAFile: caFile}, "refuses the credentials"},
		{"forbidden", RESTConfig{URI: forbidding.URL + "/api", Token: "tok"}, "denies access"},
		{"not a catalog", RESTConfig{URI: "https://user:pw@127.0.0.1:1/api?key=k", Token: "tok"}, "does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(Config{Warehouse: t.TempDir(), REST: &tt.rest})
			defer l.Close()
			err := l.Check(ctx)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("got %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error saying %q", err, tt.want)
			case err != nil && (strings.Contains(err.Error(), "not-the-token") || strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "key=k")):
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

// TestRESTConfigLogValue keeps the token and client secret out of logs.
func TestRESTConfigLogValue(t *testing.T) {
	v := RESTConfig{URI: "https://u:p@cat/api", Token: "tok-123", ClientID: "id", ClientSecret: "sec-456"}.LogValue().String()
	for _, secret := range []string{"tok-123", "sec-456", "u:p"} {
		if strings.Contains(v, secret) {
			t.Errorf("log value %s shows %q", v, secret)
		}
	}
}
