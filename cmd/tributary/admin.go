package main

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// liveStatus is what GET /status answers: the process's readers and the
// tables its compactor stopped.
type liveStatus struct {
	Version string       `json:"version"`
	Readers []unitStatus `json:"readers,omitempty"`
	// Compactor is true when this process runs a compactor.
	Compactor bool `json:"compactor"`
	// StoppedTables maps a topic to the reason its table stopped.
	StoppedTables map[string]string `json:"stopped_tables,omitempty"`
}

func (p *process) liveStatus() liveStatus {
	s := liveStatus{Version: Version, Compactor: p.compactor != nil}
	for _, u := range p.readers {
		s.Readers = append(s.Readers, u.status())
	}
	if p.compactor != nil {
		for topic, err := range p.compactor.Stopped() {
			if s.StoppedTables == nil {
				s.StoppedTables = map[string]string{}
			}
			s.StoppedTables[topic] = err.Error()
		}
	}
	return s
}

// adminRoutes adds the status and admin endpoints of a process to mux:
//
//	GET  /status                                     live state (JSON)
//	POST /admin/sources/{source}/pause               stop reading, keep the checkpoint
//	POST /admin/sources/{source}/resume              read again from the checkpoint
//	POST /admin/sources/{source}/resnapshot?table=db.t  snapshot a table again while streaming
func adminRoutes(mux *http.ServeMux, p *process, token string, log *slog.Logger) {
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, p.liveStatus())
	})
	action := func(name string, do func(u *readerUnit, r *http.Request) (string, error)) {
		mux.HandleFunc("POST /admin/sources/{source}/"+name, func(w http.ResponseWriter, r *http.Request) {
			if why := adminDenied(r, token); why != "" {
				writeJSON(w, http.StatusForbidden, map[string]string{"error": why})
				return
			}
			u := p.reader(r.PathValue("source"))
			if u == nil {
				writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no source %q in this process", r.PathValue("source"))})
				return
			}
			msg, err := do(u, r)
			if err != nil {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
				return
			}
			log.Info("admin: "+name, "source", u.name, "result", msg)
			writeJSON(w, http.StatusOK, map[string]string{"result": msg})
		})
	}
	action("pause", func(u *readerUnit, _ *http.Request) (string, error) {
		if !u.pause() {
			return "", fmt.Errorf("source %s is not running (%s)", u.name, u.status().State)
		}
		return "pausing: in-flight changes are committed, then reading stops", nil
	})
	action("resume", func(u *readerUnit, _ *http.Request) (string, error) {
		if !u.resume() {
			return "", fmt.Errorf("source %s is not paused", u.name)
		}
		return "resuming from the last checkpoint", nil
	})
	action("resnapshot", func(u *readerUnit, r *http.Request) (string, error) {
		id, err := schema.ParseTableID(r.URL.Query().Get("table"))
		if err != nil {
			return "", fmt.Errorf("table: %w", err)
		}
		if err := u.resnapshot(id); err != nil {
			return "", err
		}
		return "snapshotting " + id.String() + " again while streaming", nil
	})
}

// adminDenied says why an admin request is refused, or "" to allow it:
// with a token, the request must carry it as a bearer token; without one,
// it must come from the loopback interface.
func adminDenied(r *http.Request, token string) string {
	if token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			return "admin endpoints need the bearer token of metrics.admin_token (tributary admin sends $TRIBUTARY_ADMIN_TOKEN)"
		}
		return ""
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return "admin endpoints answer loopback clients only; set metrics.admin_token to allow others with a bearer token"
	}
	return ""
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// newRegistry returns the metrics registry of a process, or nil (every
// metric off) when metrics.listen is empty.
func newRegistry(cfg config.Metrics) *metrics.Registry {
	if cfg.Listen == "" {
		return nil
	}
	return metrics.NewRegistry(Version)
}

// serveAdmin serves /metrics, /healthz, /readyz, /status and the admin
// endpoints on metrics.listen until ctx ends. An address that cannot be
// bound is an error at once.
func serveAdmin(ctx context.Context, cfg config.Metrics, p *process, reg *metrics.Registry, log *slog.Logger) error {
	if cfg.Listen == "" {
		return nil
	}
	srv := metrics.NewServer(cfg.Listen, reg, log)
	mux := http.NewServeMux()
	adminRoutes(mux, p, cfg.AdminToken.Reveal(), log)
	srv.Handle("/status", mux)
	srv.Handle("/admin/", mux)
	if err := srv.Listen(); err != nil {
		return fmt.Errorf("metrics.listen: %w (is another process using the port?)", err)
	}
	go func() {
		if err := srv.Run(ctx); err != nil {
			log.Error("metrics listener failed", "addr", cfg.Listen, "err", err)
		}
	}()
	log.Info("serving /metrics, /healthz, /readyz, /status and /admin", "addr", cfg.Listen)
	return nil
}

const adminUsage = `Usage:
  tributary admin -a HOST:PORT status
  tributary admin -a HOST:PORT pause SOURCE
  tributary admin -a HOST:PORT resume SOURCE
  tributary admin -a HOST:PORT resnapshot SOURCE DB.TABLE

HOST:PORT is the process's metrics.listen address. When the process has
metrics.admin_token set, put the token in $TRIBUTARY_ADMIN_TOKEN.
`

// cmdAdmin runs `tributary admin`: it asks a running process (its
// metrics.listen address) for its status, or to pause, resume or
// re-snapshot.
func cmdAdmin(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("a", "127.0.0.1:9090", "the process's metrics.listen `address`")
	fs.Usage = func() { fmt.Fprint(stderr, adminUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fs.Usage()
		return exitConfig
	}
	base := "http://" + strings.TrimPrefix(*addr, "http://")
	var method, path string
	switch {
	case rest[0] == "status" && len(rest) == 1:
		method, path = http.MethodGet, "/status"
	case slices.Contains([]string{"pause", "resume"}, rest[0]) && len(rest) == 2:
		method, path = http.MethodPost, "/admin/sources/"+url.PathEscape(rest[1])+"/"+rest[0]
	case rest[0] == "resnapshot" && len(rest) == 3:
		method, path = http.MethodPost, "/admin/sources/"+url.PathEscape(rest[1])+"/resnapshot?table="+url.QueryEscape(rest[2])
	default:
		fs.Usage()
		return exitConfig
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+path, nil)
	if err != nil {
		fmt.Fprintf(stderr, "tributary admin: %v\n", err)
		return exitConfig
	}
	if tok := os.Getenv("TRIBUTARY_ADMIN_TOKEN"); tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "tributary admin: %v (is the process running with metrics.listen %s?)\n", err, *addr)
		return exitError
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			fmt.Fprintf(stderr, "tributary admin: %s\n", e.Error)
		} else {
			fmt.Fprintf(stderr, "tributary admin: %s: %s\n", resp.Status, bytes.TrimSpace(body))
		}
		return exitError
	}
	stdout.Write(body)
	return exitOK
}
