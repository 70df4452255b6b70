package postgres

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/tributary-dev/tributary/connectors"
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

func itoa(n int) string { return strconv.Itoa(n) }
