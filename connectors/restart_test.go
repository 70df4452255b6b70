package connectors

import (
	"context"
	"testing"

	"github.com/tributary-dev/tributary/schema"
)

// countingSink counts commits and queued commits.
type countingSink struct{ commits, queue int }

func (c *countingSink) Open(context.Context) ([]byte, error)             { return nil, nil }
func (c *countingSink) Schemas(context.Context) ([]*schema.Table, error) { return nil, nil }
func (c *countingSink) Add(context.Context, *schema.Event) error         { return nil }
func (c *countingSink) AddSchema(context.Context, *schema.Table) error   { return nil }
func (c *countingSink) Commit(context.Context, []byte) error             { c.commits++; return nil }
func (c *countingSink) Close()                                           {}

type asyncSink struct{ countingSink }

func (a *asyncSink) CommitAsync(context.Context, []byte) error { a.queue++; return nil }

// TestCommitAsyncForwarded checks that CommitAsync queues on a sink that
// can, commits on one that cannot, and that the observed sink forwards it.
func TestCommitAsyncForwarded(t *testing.T) {
	ctx := context.Background()
	a := &asyncSink{}
	if err := CommitAsync(ctx, &observedSink{Sink: a}, nil); err != nil || a.queue != 1 || a.commits != 0 {
		t.Errorf("async sink through observedSink: %d queued, %d committed, err %v; want 1, 0", a.queue, a.commits, err)
	}
	s := &countingSink{}
	if err := CommitAsync(ctx, &observedSink{Sink: s}, nil); err != nil || s.commits != 1 {
		t.Errorf("sync sink through observedSink: %d committed, err %v; want 1", s.commits, err)
	}
}
