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
	pending []fed
	spare   []fed
	bytes   int // of the pending events
	closed  bool
	// ready holds a token while pending has events.
	ready chan struct{}

	// lastRows and lastBody are the rows event whose header headerOnly
	// decoded last and its undecoded rows. Both run on go-mysql's reading
	// goroutine, just before HandleEvent of the same event.
	lastRows *replication.RowsEvent
	lastBody []byte
}

// fed is one queued event. rows holds the undecoded rows of a rows event
// (see headerOnly): the event's Rows are empty until decoded.
type fed struct {
	ev   *replication.BinlogEvent
	rows []byte
}

// feedMax and feedMaxBytes bound the events waiting, and their bytes,
// before the reading goroutine waits. Kafka commits no longer stop the
// loop (they are queued), so the queue only smooths bursts: a deeper one
// adds live heap, which the garbage collector scans again and again under
// the reader's memory limit.
const (
	feedMax      = 1 << 13
	feedMaxBytes = 4 << 20
)

func newFeed() *feed {
	f := &feed{ready: make(chan struct{}, 1)}
	f.room = sync.NewCond(&f.mu)
	return f
}

// HandleEvent queues one event; it blocks while the queue is full.
func (f *feed) HandleEvent(e *replication.BinlogEvent) error {
	f.mu.Lock()
	for (len(f.pending) >= feedMax || f.bytes >= feedMaxBytes) && !f.closed {
		f.room.Wait()
	}
	if f.closed {
		f.mu.Unlock()
		return context.Canceled
	}
	item := fed{ev: e}
	if f.lastRows != nil && e.Event == f.lastRows {
		item.rows = f.lastBody
	}
	f.lastRows, f.lastBody = nil, nil
	f.pending = append(f.pending, item)
	f.bytes += len(e.RawData)
	f.mu.Unlock()
	select {
	case f.ready <- struct{}{}:
	default:
	}
	return nil
}

// take returns every queued event, in order; the slice is valid until the
// next take.
func (f *feed) take() []fed {
	f.mu.Lock()
	batch := f.pending
	f.pending, f.spare = f.spare[:0], batch
	f.bytes = 0
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
