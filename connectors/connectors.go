// Package connectors holds what every source reader shares: the Sink its
// changes go to, and the Source contract.
package connectors

import (
	"context"

	"github.com/tributary-dev/tributary/schema"
)

// Sink receives a reader's changes and checkpoints, transactionally.
//
// Add and AddSchema stage records into the sink's open transaction; Commit
// makes everything staged since the previous Commit durable together with
// the checkpoint, atomically. After any error the state of the open
// transaction is unknown: the reader must Close the sink and restart from
// Open, whose checkpoint and schemas are then the truth. kafka.Publisher is
// the implementation.
type Sink interface {
	// Open connects, fences older writers of the same reader, and returns
	// the last committed checkpoint (nil for a new reader).
	Open(ctx context.Context) ([]byte, error)
	// Schemas returns every committed table schema version, in commit order.
	Schemas(ctx context.Context) ([]*schema.Table, error)
	Add(ctx context.Context, e *schema.Event) error
	AddSchema(ctx context.Context, t *schema.Table) error
	Commit(ctx context.Context, checkpoint []byte) error
	Close()
}

// AsyncCommitter is a Sink that can commit without waiting for the commit
// to complete, so that a reader goes on staging the next transaction while
// the previous one commits. Readers find it by type assertion; see
// CommitAsync.
type AsyncCommitter interface {
	// CommitAsync queues a commit of everything staged since the previous
	// commit together with checkpoint, and returns before it is durable;
	// checkpoint must not change afterwards. Queued commits complete in
	// call order, each atomically: a checkpoint becomes visible with
	// exactly the records staged before it, never ahead of them. When a
	// queued commit fails, a later call (Add, AddSchema, Commit or
	// CommitAsync) returns the failure, and nothing staged after the
	// failed commit is ever committed: the reader must Close the sink and
	// restart from Open, as after any error. Commit waits for every
	// commit queued before it.
	CommitAsync(ctx context.Context, checkpoint []byte) error
}

// CommitAsync queues a commit on sink when it is an AsyncCommitter, and
// commits synchronously otherwise. A nil error means the commit is queued
// (or done); see AsyncCommitter for when its failure is reported.
func CommitAsync(ctx context.Context, sink Sink, checkpoint []byte) error {
	if a, ok := sink.(AsyncCommitter); ok {
		return a.CommitAsync(ctx, checkpoint)
	}
	return sink.Commit(ctx, checkpoint)
}

// Source reads one source database into a Sink.
//
// Run takes the initial snapshot and streams changes until ctx ends or an
// error occurs. It calls sink.Open first and resumes from the checkpoint it
// returns; a checkpoint only moves when Commit succeeds, so a Run that
// fails at any point can be started again without loss or duplication.
// Run returns nil when ctx is cancelled.
type Source interface {
	Run(ctx context.Context, sink Sink) error
}
