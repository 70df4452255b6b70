// Package lake applies coalesced row changes to lake tables. It knows
// nothing of MySQL or Postgres, and nothing of Iceberg: the Iceberg backend
// lives in lake/iceberg, the loop that reads Kafka in lake/compactor.
//
// A Batch is what one commit applies to one table: the last change per
// primary key, an optional truncate, and the Kafka position the batch
// reaches. A Table applies each Batch as one atomic snapshot and records
// the position in it, so a restarted compactor resumes from the table.
package lake

import (
	"context"
	"errors"
	"time"

	"github.com/tributary-dev/tributary/schema"
)

// Change is the last change of one primary key within a batch.
type Change struct {
	// Key is the key's encoding by KeyOf.
	Key string
	// Hash is HashKey(Key), or zero when the producer of the change left
	// it to KeyHash.
	Hash KeyHash
	// Delete is true when the row must be gone after the batch.
	Delete bool
	// Row is the row's new image, aligned with Batch.Table.Columns; nil
	// for a delete.
	Row []any
	// Unchanged marks columns of Row the source did not send (Postgres
	// TOAST); their values are taken from the key's live lake row, or, for
	// a create, from the row removed by a delete with the same
	// Meta.Position (a key change published as a delete and a create).
	// Nil when every column is present.
	Unchanged []bool
	// Meta describes where the change comes from.
	Meta RowMeta
}

// KeyHash returns HashKey(c.Key), computed once by whoever made the
// change when c.Hash is set.
func (c *Change) KeyHash() KeyHash {
	if c.Hash != (KeyHash{}) {
		return c.Hash
	}
	return HashKey(c.Key)
}

// RowMeta is written into the lake's metadata columns.
type RowMeta struct {
	// Op is the change's op: create, update or read.
	Op schema.Op
	// CommitTime is the source transaction's commit time.
	CommitTime time.Time
	// Position is the source position of the change, as text: the GTID or
	// binlog file:pos for MySQL, the LSN for Postgres, then "#" and the
	// row number within the transaction.
	Position string
}

// Batch is what one commit applies to one table.
type Batch struct {
	// Table is the schema version every Row is aligned with.
	Table *schema.Table
	// Truncate deletes every existing row before Changes apply.
	Truncate bool
	// Changes holds at most one change per key, in any order.
	Changes []Change
	// Resync, when set, begins or ends a resync of the table (see
	// schema.OpResyncBegin); such a batch holds no changes and no truncate.
	Resync Resync
	// Checkpoint is the Kafka position the table reaches with this batch.
	Checkpoint Checkpoint
}

// Resync is a resync marker applied to a table.
//
// ResyncBegin makes every row the table holds "old"; ResyncEnd deletes
// the old rows that no batch since replaced or deleted, and ends the
// resync. In between, the table keeps the rows it had (readers see them),
// and does not rewrite files in maintenance. A second ResyncBegin before
// the end starts over: every row then held becomes old. A truncate ends a
// resync, since no old row is left. The state is part of the table's
// Checkpoint, so it survives restarts.
type Resync uint8

// The resync markers.
const (
	ResyncNone Resync = iota
	ResyncBegin
	ResyncEnd
)

// Checkpoint is the Kafka position a table has applied: for each partition
// of its topic, the offset of the next record to read.
type Checkpoint struct {
	Topic   string
	Offsets map[int32]int64
	// SourceTime is the newest source commit time among the changes the
	// table has applied (zero when unknown): how recent the table's data
	// is, though not a completeness bound when the topic has several
	// partitions.
	SourceTime time.Time
	// Resyncing is set between a ResyncBegin and its ResyncEnd.
	Resyncing bool
	// ResyncMark is the table implementation's own mark of which rows are
	// old while Resyncing (for Iceberg: the last sequence number before
	// the resync began).
	ResyncMark int64
}

// Clone returns a deep copy.
func (c Checkpoint) Clone() Checkpoint {
	out := Checkpoint{Topic: c.Topic, Offsets: make(map[int32]int64, len(c.Offsets)), SourceTime: c.SourceTime, Resyncing: c.Resyncing, ResyncMark: c.ResyncMark}
	for p, o := range c.Offsets {
		out.Offsets[p] = o
	}
	return out
}

// TableConfig says how a source table maps onto a lake table.
type TableConfig struct {
	// Namespace and Name identify the lake table.
	Namespace, Name string
	// PartitionColumn is the source column whose day (or Granularity)
	// partitions the table; empty means unpartitioned.
	PartitionColumn string
	// Granularity is "day" (the default), "hour" or "month".
	Granularity string
	// Properties are extra table properties (source, owner).
	Properties map[string]string
	// CopyOnWrite writes again, in each commit, the data files rows are
	// deleted from (updates, deletes), instead of adding position delete
	// files: for engines that read no delete files, at the cost of
	// rewriting files on every change.
	CopyOnWrite bool
}

// Lake opens tables. Implementations are safe for concurrent use.
type Lake interface {
	// Open loads the lake table for source table t, creating it (and its
	// namespace) when missing, and returns it ready to apply batches. The
	// table's Checkpoint is the position of its last commit.
	Open(ctx context.Context, t *schema.Table, cfg TableConfig) (Table, error)
	// Close releases the catalog. It is idempotent.
	Close() error
}

// Table is one lake table being written by one compactor.
//
// Apply commits a batch as one snapshot that records the batch's
// checkpoint. When Apply returns nil the batch is durable. When it returns
// an error the batch is not applied, and the table must be closed and
// opened again (ErrConflict: another writer committed; anything else: the
// catalog or the storage failed and the commit is known not to have
// happened). An ambiguous commit is resolved inside Apply by reloading the
// table and looking for the batch's commit id.
type Table interface {
	// Checkpoint returns the Kafka position of the last commit.
	Checkpoint() Checkpoint
	// Apply commits one batch.
	Apply(ctx context.Context, b *Batch) (Stats, error)
	// Close releases the table's memory. It is idempotent.
	Close()
}

// Stats describes one applied batch.
type Stats struct {
	// Rows and Deletes count the rows written and the position deletes.
	Rows, Deletes int
	// DataFiles and DeleteFiles count the files added.
	DataFiles, DeleteFiles int
	// SnapshotID is the committed snapshot; 0 when nothing was committed
	// because the batch changed nothing.
	SnapshotID int64
	// Duration is the time Apply took.
	Duration time.Duration
}

// ErrConflict is returned by Table.Apply when another writer committed to
// the table since it was opened; the caller must open it again and resume
// from its checkpoint.
var ErrConflict = errors.New("lake table changed underneath this writer")

// ErrIncompatible is returned by Table.Apply when a source schema change
// cannot be applied to the lake table (a column's type changed to one its
// lake type cannot be widened to). The table stops; other tables go on.
var ErrIncompatible = errors.New("source schema change is incompatible with the lake table")

// Refresher is a Table that can be made usable again after a failed Apply
// or Maintain, or brought up to date after another writer committed,
// without being opened again: Refresh reloads the table and keeps what it
// can of its state (the key index), so it costs much less than Open. When
// it returns nil, Checkpoint is the table's last commit and Apply may be
// called; when it fails the table must be closed and opened again.
type Refresher interface {
	Refresh(ctx context.Context) error
}

// Checker is a Lake that can verify, before any table is opened, that its
// catalog answers and its storage takes writes, changing no table. Its
// error says what is wrong and which config key to fix.
type Checker interface {
	Check(ctx context.Context) error
}

// Maintainer is a Table that compacts itself: it rewrites data files to
// fold deletes away and pack small files, expires old snapshots and
// deletes orphan files.
// Maintain commits its own snapshots, which keep the table's checkpoint;
// it must not run concurrently with Apply on the same table. After an
// error the table must be opened again, as after Apply.
type Maintainer interface {
	Maintain(ctx context.Context) (MaintainStats, error)
}

// MaintainStats describes one Maintain call.
type MaintainStats struct {
	// RewrittenFiles data files were replaced by NewFiles.
	RewrittenFiles, NewFiles int
	// RemovedDeleteFiles position delete files were dropped.
	RemovedDeleteFiles int
	// ExpiredSnapshots snapshots were expired.
	ExpiredSnapshots int
	// RemovedOrphans files no snapshot referenced were deleted.
	RemovedOrphans int
	Duration       time.Duration
}
