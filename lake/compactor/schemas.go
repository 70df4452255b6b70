package compactor

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/schema"
)

// schemas holds every table schema version of one source, read from its
// schema topic, and reads the topic again when asked for a version it does
// not have. It is safe for concurrent use.
type schemas struct {
	brokers []string
	opts    []kgo.Opt
	prefix  string

	mu       sync.Mutex
	versions map[string]*schema.Table // schema.SchemaKey -> version
	latest   map[string]*schema.Table // table topic -> newest version
	readAt   time.Time
}

func newSchemas(brokers []string, opts []kgo.Opt, prefix string) *schemas {
	return &schemas{brokers: brokers, opts: opts, prefix: prefix, versions: map[string]*schema.Table{}, latest: map[string]*schema.Table{}}
}

// minReread is the least time between two reads of the schema topic.
const minReread = time.Second

// refresh reads the schema topic from the start.
func (s *schemas) refresh(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if wait := time.Until(s.readAt.Add(minReread)); wait > 0 {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.readAt = time.Now()
	return kafka.ReadTopic(ctx, s.brokers, s.opts, schema.SchemaTopic(s.prefix), func(r *kgo.Record) error {
		if r.Value == nil {
			return nil
		}
		t := new(schema.Table)
		if err := json.Unmarshal(r.Value, t); err != nil {
			return fmt.Errorf("schema %s: %w", r.Key, err)
		}
		if err := t.Prepare(); err != nil {
			return fmt.Errorf("schema %s: %w", r.Key, err)
		}
		key := schema.SchemaKey(t.ID, t.Version)
		if _, ok := s.versions[key]; ok {
			return nil // keep the pointer workers already hold
		}
		s.versions[key] = t
		topic := schema.TopicName(s.prefix, t.ID)
		if old := s.latest[topic]; old == nil || old.Version < t.Version {
			s.latest[topic] = t
		}
		return nil
	})
}

// lookup returns one schema version, reading the topic again if needed.
func (s *schemas) lookup(ctx context.Context, id schema.TableID, version int) (*schema.Table, error) {
	key := schema.SchemaKey(id, version)
	s.mu.Lock()
	t := s.versions[key]
	s.mu.Unlock()
	if t != nil {
		return t, nil
	}
	if err := s.refresh(ctx); err != nil {
		return nil, fmt.Errorf("read schema topic %s: %w", schema.SchemaTopic(s.prefix), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := s.versions[key]; t != nil {
		return t, nil
	}
	return nil, fmt.Errorf("%w: %s version %d is not on %s", ErrUnknownSchema, id, version, schema.SchemaTopic(s.prefix))
}

// newest returns the newest schema version of a table topic, or nil.
func (s *schemas) newest(ctx context.Context, topic string) (*schema.Table, error) {
	s.mu.Lock()
	t := s.latest[topic]
	s.mu.Unlock()
	if t != nil {
		return t, nil
	}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest[topic], nil
}
