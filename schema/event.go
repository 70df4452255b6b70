package schema

import "time"

// Op is the kind of a change, spelled as in Debezium.
type Op byte

// The change kinds.
const (
	OpCreate   Op = 'c' // a row was inserted
	OpUpdate   Op = 'u' // a row was updated; Before holds the old image
	OpDelete   Op = 'd' // a row was deleted; After is nil
	OpRead     Op = 'r' // a row read by a snapshot
	OpTruncate Op = 't' // the table was truncated; Before and After are nil

	// OpResyncBegin and OpResyncEnd bracket a snapshot taken again into a
	// table whose consumers already hold rows (a lost source position, or
	// an operator's resnapshot). Between them every row the source holds is
	// sent again (as reads, or as stream changes); at the end, a consumer
	// removes the rows it held at the begin marker that nothing since
	// wrote or deleted: rows the source deleted while the reader could not
	// see. Before and After are nil. Not Debezium ops.
	OpResyncBegin Op = 'b'
	OpResyncEnd   Op = 'e'
)

// TableLevel reports whether the op is about the whole table (truncate,
// resync markers) rather than one row: such events have no key and are
// sent to every partition of the table's topic.
func (o Op) TableLevel() bool {
	return o == OpTruncate || o == OpResyncBegin || o == OpResyncEnd
}

// String returns the one-letter Debezium spelling.
func (o Op) String() string { return string(rune(o)) }

// Source says where and when a change happened in its source database.
type Source struct {
	// Connector is "mysql" or "postgresql".
	Connector string
	// Name is the reader's logical source name (the topic prefix).
	Name string
	// ServerID is the MySQL server id of the change's origin.
	ServerID uint32
	// GTID is the MySQL/MariaDB global transaction id of the change's
	// transaction, when the source runs with GTIDs.
	GTID string
	// File and Pos are the binlog coordinates of the transaction's start.
	File string
	Pos  uint64
	// LSN is the Postgres commit LSN of the change's transaction.
	LSN uint64
	// Row numbers the change within its transaction, from 0.
	Row int
	// TxID identifies the transaction (the GTID, or the Postgres xid).
	TxID string
	// CommitTime is when the transaction committed in the source.
	CommitTime time.Time
	// Snapshot is true for OpRead events.
	Snapshot bool
}

// Event is one row change. Before and After are aligned with
// Table.Columns and hold values of the Go type each column's Kind names.
// A nil image is absent (no Before for a create, no After for a delete).
type Event struct {
	Table  *Table
	Op     Op
	Before []any
	After  []any
	// Unchanged marks columns whose value the source did not send (a
	// Postgres TOAST column left untouched by an update). Nil when every
	// column is present. The value in After is nil for such a column and
	// must not be read as NULL.
	Unchanged []bool
	Source    Source
}

// KeyImage returns the image the event's key comes from: After, or Before
// for a delete.
func (e *Event) KeyImage() []any {
	if e.After != nil {
		return e.After
	}
	return e.Before
}
