package postgres

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

// memSink is an in-memory connectors.Sink: what Commit makes durable
// survives Close, as in Kafka; what was staged since is dropped.
type memSink struct {
	mu      sync.Mutex
	cp      []byte
	schemas []*schema.Table
	events  []*schema.Event
	stagedE []*schema.Event
	stagedS []*schema.Table
	commits int
	// afterCommit, when set, runs after each commit.
	afterCommit func()
}

var _ connectors.Sink = (*memSink)(nil)

func (m *memSink) Open(context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cp, nil
}

func (m *memSink) Schemas(context.Context) ([]*schema.Table, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*schema.Table(nil), m.schemas...), nil
}

func (m *memSink) Add(_ context.Context, e *schema.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stagedE = append(m.stagedE, e)
	return nil
}

func (m *memSink) AddSchema(_ context.Context, t *schema.Table) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stagedS = append(m.stagedS, t)
	return nil
}

func (m *memSink) Commit(_ context.Context, cp []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, m.stagedE...)
	m.schemas = append(m.schemas, m.stagedS...)
	m.stagedE, m.stagedS = nil, nil
	m.cp = append([]byte(nil), cp...)
	m.commits++
	if m.afterCommit != nil {
		m.afterCommit()
	}
	return nil
}

func (m *memSink) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stagedE, m.stagedS = nil, nil
}

// checkpoint returns the committed checkpoint.
func (m *memSink) checkpoint() *checkpoint {
	m.mu.Lock()
	defer m.mu.Unlock()
	cp := &checkpoint{}
	if m.cp != nil {
		_ = json.Unmarshal(m.cp, cp)
	}
	return cp
}

// committed returns the committed events.
func (m *memSink) committed() []*schema.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]*schema.Event(nil), m.events...)
}

// testLog logs to stderr when TRIBUTARY_TEST_LOG is set.
func testLog() *slog.Logger {
	if os.Getenv("TRIBUTARY_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig is a reader config for a harness server.
func testConfig(p *harness.Postgres, name string) Config {
	return Config{Name: name, Addr: p.Host + ":" + strconv.Itoa(p.Port), User: p.User, Password: p.Password, Database: p.Database,
		ChunkSize: 500, HeartbeatInterval: time.Second, CommitInterval: 50 * time.Millisecond, Logger: testLog()}
}

// runSource runs a reader until the test ends or stop is called; stop
// returns Run's error.
func runSource(t *testing.T, cfg Config, sink connectors.Sink) (src *Source, stop func() error) {
	src = NewSource(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, sink) }()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return src, stop
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
	}
}

// snapshotsDone reports whether the committed checkpoint has every table
// snapshotted.
func (m *memSink) snapshotsDone() bool {
	cp := m.checkpoint()
	if len(cp.Tables) == 0 {
		return false
	}
	for _, st := range cp.Tables {
		if st.Snapshot != snapDone {
			return false
		}
	}
	return true
}
