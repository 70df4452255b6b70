package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server serves /metrics, /healthz and /readyz, and any route added with
// Handle.
//
// /healthz answers 200 while the process serves. /readyz answers 200 when
// every readiness check passes: the registry's components (each reader and
// compactor) and the checks added with SetReady and AddCheck; otherwise
// 503 with one "name: reason" line per failing check (JSON with
// "Accept: application/json").
type Server struct {
	addr string
	reg  *Registry
	log  *slog.Logger
	mux  *http.ServeMux

	mu     sync.Mutex
	ln     net.Listener
	states map[string]error
	checks map[string]func() error
}

// NewServer returns a Server for addr (host:port; ":0" picks a free port)
// that serves reg's metrics. It does no I/O. reg and log may be nil.
func NewServer(addr string, reg *Registry, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{addr: addr, reg: reg, log: log, mux: http.NewServeMux(), states: map[string]error{}, checks: map[string]func() error{}}
	if reg != nil {
		s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg.reg, promhttp.HandlerOpts{Registry: reg.reg}))
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	return s
}

// Handle adds a route, as http.ServeMux.Handle does (for /status and
// /admin routes).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// SetReady sets the state of the readiness check name: nil is ready, an
// error says why not.
func (s *Server) SetReady(name string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states[name] = err
}

// AddCheck adds a readiness check that /readyz calls on each request; it
// must be quick and safe for concurrent use.
func (s *Server) AddCheck(name string, check func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check
}

// NotReady returns the failing readiness checks, by name; an empty map
// means ready.
func (s *Server) NotReady() map[string]error {
	out := map[string]error{}
	if s.reg != nil {
		out = s.reg.Ready()
	}
	s.mu.Lock()
	states := make(map[string]error, len(s.states))
	for k, v := range s.states {
		states[k] = v
	}
	checks := make(map[string]func() error, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	for k, err := range states {
		if err != nil {
			out[k] = err
		}
	}
	for k, check := range checks {
		if err := check(); err != nil {
			out[k] = err
		}
	}
	return out
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	failing := s.NotReady()
	names := make([]string, 0, len(failing))
	for k := range failing {
		names = append(names, k)
	}
	sort.Strings(names)
	status := http.StatusOK
	if len(failing) > 0 {
		status = http.StatusServiceUnavailable
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		reasons := map[string]string{}
		for _, k := range names {
			reasons[k] = failing[k].Error()
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(struct {
			Ready    bool              `json:"ready"`
			NotReady map[string]string `json:"not_ready,omitempty"`
		}{len(failing) == 0, reasons})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if len(failing) == 0 {
		fmt.Fprintln(w, "ok")
		return
	}
	for _, k := range names {
		fmt.Fprintf(w, "%s: %v\n", k, failing[k])
	}
}

// Listen binds the server's address, so that a busy port fails start-up
// before anything else runs. Run calls it when it was not called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("metrics server: listen on %s: %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the address the server listens on once Listen succeeded
// (the port chosen for ":0"), else the configured address.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.addr
}

// shutdownTimeout bounds how long Run waits for requests in flight.
const shutdownTimeout = 5 * time.Second

// Run serves until ctx ends, then shuts down gracefully (requests in
// flight get up to 5s) and returns nil. It returns an error when the
// address cannot be bound or serving fails.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	s.log.Info("metrics server listening", "addr", ln.Addr().String())
	select {
	case err := <-served:
		return fmt.Errorf("metrics server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("metrics server on %s: shutdown: %w", ln.Addr(), err)
	}
	return nil
}
