// Package notify tells other systems about lake commits: after each
// snapshot a compactor commits to a lake table, a Commit notification goes
// to a Kafka topic (Kafka) and/or an HTTP endpoint (Webhook).
//
// Delivery is at least once for the newest snapshot of every table and
// best effort in between: a notification is sent after its commit is
// durable, so a crash between the two loses it, and to cover that the
// compactor sends the table's last commit again (Replay set) whenever it
// opens the table, after a start, a failed session or a rebalance.
// Consumers must therefore expect duplicates and key on SnapshotID. A
// notification is never a reason to fail or delay a lake commit: the
// webhook queues and drops the oldest notification when its queue is
// full, and the Kafka notifier gives up after its timeout; both count and
// log what they lose. The package knows nothing of MySQL or Postgres.
package notify

import (
	"context"
	"errors"
	"time"
)

// Commit describes one lake commit. Its JSON form is the notification.
type Commit struct {
	// Table is the lake table, "namespace.name"; Namespace and Name are
	// its parts.
	Table     string `json:"table"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// SourceTable is the source table, "database.table" (the PostgreSQL
	// schema for database), and TopicPrefix the reader it comes from.
	SourceTable string `json:"source_table"`
	TopicPrefix string `json:"topic_prefix"`
	// SnapshotID is the Iceberg snapshot the commit made.
	SnapshotID int64 `json:"snapshot_id"`
	// CommittedAt is when the compactor committed the snapshot.
	CommittedAt time.Time `json:"committed_at"`
	// Upserts and Deletes count the keys the batch wrote and removed (the
	// last change per key of the batch's Kafka records).
	Upserts int `json:"upserts"`
	Deletes int `json:"deletes"`
	// Truncated is set when the batch emptied the table first.
	Truncated bool `json:"truncated,omitempty"`
	// RowsAdded counts the rows written to data files, PositionDeletes the
	// rows marked deleted, DataFiles and DeleteFiles the files added.
	RowsAdded       int `json:"rows_added"`
	PositionDeletes int `json:"position_deletes"`
	DataFiles       int `json:"data_files"`
	DeleteFiles     int `json:"delete_files"`
	// Topic is the change topic and Offsets, per partition, the Kafka
	// offsets the snapshot covers.
	Topic   string             `json:"topic"`
	Offsets map[int32]Interval `json:"offsets"`
	// SourceTimeMax is the newest source commit time among the batch's
	// changes; nil for a replay or a batch without one.
	SourceTimeMax *time.Time `json:"source_time_max,omitempty"`
	// CompleteThrough is a time T such that every change the source
	// committed before T is in the table: the oldest, over the topic's
	// partitions, of the source commit time of the last change the
	// compactor applied from the partition (each partition is in source
	// commit order). Nil until every partition has delivered a change
	// since the compactor opened the table, and for a replay.
	CompleteThrough *time.Time `json:"complete_through,omitempty"`
	// Replay is set when the notification repeats the table's last commit
	// after the compactor opened the table: it may have been sent before.
	// Counts and source times are then those the snapshot summary keeps.
	Replay bool `json:"replay,omitempty"`
}

// Interval is a range of Kafka offsets of one partition: From (the first
// offset the snapshot covers, -1 when unknown) up to To, exclusive (the
// next offset to apply).
type Interval struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// Notifier is told about each lake commit once it is durable.
//
// Notify is called on the table's worker goroutine, between two commits of
// that table, and may be called concurrently for different tables. It must
// return quickly: an implementation that talks to a slow system queues, or
// bounds its wait. An error is logged by the caller and never fails the
// commit. The Commit must not be changed after the call.
type Notifier interface {
	Notify(ctx context.Context, c *Commit) error
}

// Fanout sends each notification to every notifier in turn and joins their
// errors.
type Fanout []Notifier

// Notify implements Notifier.
func (f Fanout) Notify(ctx context.Context, c *Commit) error {
	var errs []error
	for _, n := range f {
		if err := n.Notify(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
