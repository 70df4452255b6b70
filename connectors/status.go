package connectors

import (
	"context"
	"time"
)

// Status is a reader's committed state and its distance from the source,
// as `tributary status` shows it.
type Status struct {
	// Position is where streaming resumes, in the source's notation.
	Position string
	// SourceTime is the commit time of the last transaction published;
	// Heartbeat is the reader's last commit, busy or idle.
	SourceTime, Heartbeat time.Time
	// LagBytes is how much of the source's log (binlog, WAL) lies past
	// Position; -1 when unknown (a purged position, say).
	LagBytes int64
	// RetainedBytes is the WAL the replication slot holds back on the
	// server (PostgreSQL); -1 where it does not apply.
	RetainedBytes int64
	// Tables lists the captured tables in the checkpoint, by name.
	Tables []TableStatus
}

// TableStatus is one captured table's snapshot progress.
type TableStatus struct {
	// Table is "database.table" (MySQL) or "schema.table" (PostgreSQL).
	Table string
	// Snapshot is "pending", "running" or "done".
	Snapshot string
	// Rows were snapshotted since Started; Estimate is the source's own
	// row estimate (0 when unknown), for a percentage and an ETA.
	Rows, Estimate int64
	Started        time.Time
}

// Statuser is a Source that can describe a committed checkpoint against
// its source server, changing nothing.
type Statuser interface {
	Status(ctx context.Context, checkpoint []byte) (*Status, error)
}
