package mysql

import (
	"context"
	"sync"

	"github.com/go-mysql-org/go-mysql/replication"
)

// feed hands binlog events from go-mysql's reading goroutine to the
// reader's loop in batches: under load one wake-up carries many events,
// when idle each event is handed over at once. It is go-mysql's
// SynchronousEventHandler.
type feed struct {
	mu      sync.Mutex
	room    *sync.Cond
	pending []*replication.BinlogEvent
	spare   []*replication.BinlogEvent
	closed  bool
	// ready holds a token while pending has events.
	ready chan struct{}
}

// feedMax is the most events waiting before the reading goroutine waits.
const feedMax = 4096

func newFeed() *feed {
	f := &feed{ready: make(chan struct{}, 1)}
	f.room = sync.NewCond(&f.mu)
	return f
}

// HandleEvent queues one event; it blocks while the queue is full.
func (f *feed) HandleEvent(e *replication.BinlogEvent) error {
	f.mu.Lock()
	for len(f.pending) >= feedMax && !f.closed {
		f.room.Wait()
	}
	if f.closed {
		f.mu.Unlock()
		return context.Canceled
	}
	f.pending = append(f.pending, e)
	f.mu.Unlock()
	select {
	case f.ready <- struct{}{}:
	default:
	}
	return nil
}

// take returns every queued event, in order; the slice is valid until the
// next take.
func (f *feed) take() []*replication.BinlogEvent {
	f.mu.Lock()
	batch := f.pending
	f.pending, f.spare = f.spare[:0], batch
	f.room.Broadcast()
	f.mu.Unlock()
	return batch
}

// close releases a reading goroutine blocked on a full queue.
func (f *feed) close() {
	f.mu.Lock()
	f.closed = true
	f.room.Broadcast()
	f.mu.Unlock()
}
