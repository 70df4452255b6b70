package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/schema"
)

func TestByteBudget(t *testing.T) {
	ctx := context.Background()
	b := newByteBudget(100)
	if err := b.acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	got := make(chan struct{})
	go func() {
		if err := b.acquire(ctx, 60); err != nil {
			t.Error(err)
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a second 60 of a 100 budget went through before the first was released")
	case <-time.After(50 * time.Millisecond):
	}
	b.release(60)
	<-got
	b.release(60)
	// A batch larger than the budget goes through alone.
	if err := b.acquire(ctx, 500); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.acquire(cctx, 1); err == nil {
		t.Error("acquire with a full budget and a cancelled context returned nil")
	}
}

func TestEventSizeCountsWideValues(t *testing.T) {
	small := eventSize(&schema.Event{After: []any{int64(1), "a"}})
	wide := eventSize(&schema.Event{Before: []any{int64(1), string(make([]byte, 100_000))}, After: []any{int64(1), make([]byte, 100_000)}})
	if small > 1000 || wide < 200_000 {
		t.Errorf("eventSize small %d, wide %d", small, wide)
	}
}
