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
