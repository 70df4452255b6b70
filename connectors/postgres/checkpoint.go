package postgres

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
)

// lsn is a WAL position. In JSON it is written as Postgres writes it
// ("16/B374D848").
type lsn pglogrepl.LSN

func (l lsn) String() string { return pglogrepl.LSN(l).String() }

// MarshalText writes the Postgres form.
func (l lsn) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads the Postgres form.
func (l *lsn) UnmarshalText(b []byte) error {
	v, err := pglogrepl.ParseLSN(string(b))
	if err != nil {
		return err
	}
	*l = lsn(v)
	return nil
}

// tableState is the checkpointed state of one captured table.
type tableState struct {
	// Version is the schema version current at the checkpoint.
	Version int `json:"version"`
	// Snapshot is "pending", "running" or "done".
	Snapshot string `json:"snapshot"`
	// After holds the key of the last snapshotted row, in Postgres's text
	// form, column by column in key order, while running.
	After []string `json:"after,omitempty"`
	// Rows counts the rows snapshotted so far.
	Rows int64 `json:"rows,omitempty"`
	// Started is when the snapshot's first chunk was published, for the
	// snapshot's rate and ETA in tributary status.
	Started time.Time `json:"started,omitzero"`
	// Resync is set when the snapshot is taken again into a table whose
	// consumers already hold rows: a resync begin marker was published,
	// and the end marker follows in the transaction that commits the
	// snapshot as done (reader.endResyncs).
	Resync bool `json:"resync,omitempty"`
}

// The snapshot states of a table.
const (
	snapPending = "pending"
	snapRunning = "running"
	snapDone    = "done"
)

// partial is a source transaction split across Kafka transactions.
type partial struct {
	// CommitLSN is the transaction's commit LSN.
	CommitLSN lsn `json:"commit_lsn"`
	// Rows counts its row changes already published; a restart skips them.
	Rows int `json:"rows"`
}

// checkpoint is what a reader commits with every Kafka transaction.
type checkpoint struct {
	// Slot is the replication slot the position belongs to.
	Slot string `json:"slot"`
	// LSN is where streaming resumes: every transaction that committed
	// before it is published (or, for Partial, partly published). The
	// slot's confirmed position never passes it.
	LSN lsn `json:"lsn"`
	// CommitLSN is the commit LSN of the last transaction published in
	// full; a restart skips every transaction at or before it.
	CommitLSN lsn `json:"commit_lsn,omitempty"`
	// Partial is the transaction being published in parts, if any.
	Partial *partial `json:"partial,omitempty"`
	// Tables maps "schema.table" to its state.
	Tables map[string]*tableState `json:"tables"`
	// SourceTime is the commit time of the last transaction published.
	SourceTime time.Time `json:"source_time"`
	// Heartbeat is when the reader last committed, busy or idle.
	Heartbeat time.Time `json:"heartbeat"`
}

func parseCheckpoint(b []byte) (*checkpoint, error) {
	cp := &checkpoint{Tables: map[string]*tableState{}}
	if b == nil {
		return cp, nil
	}
	if err := json.Unmarshal(b, cp); err != nil {
		return nil, fmt.Errorf("decode checkpoint: %w", err)
	}
	if cp.Tables == nil {
		cp.Tables = map[string]*tableState{}
	}
	return cp, nil
}
