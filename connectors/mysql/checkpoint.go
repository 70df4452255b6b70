package mysql

import (
	"encoding/json"
	"fmt"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// position is a place in the binlog at a transaction boundary.
type position struct {
	// GTIDSet is the set of transactions executed through this position,
	// when the server uses GTIDs. Resuming prefers it over File/Pos.
	GTIDSet string `json:"gtid_set,omitempty"`
	// File and Pos are the coordinates of the next event.
	File string `json:"file"`
	Pos  uint32 `json:"pos"`
}

// before reports whether p comes strictly before q in the binlog.
func (p position) before(q position) bool {
	if p.File != q.File {
		return p.File < q.File
	}
	return p.Pos < q.Pos
}

func (p position) String() string {
	if p.GTIDSet != "" {
		return fmt.Sprintf("%s:%d (gtid %s)", p.File, p.Pos, p.GTIDSet)
	}
	return fmt.Sprintf("%s:%d", p.File, p.Pos)
}

// tableState is the checkpointed state of one captured table.
type tableState struct {
	// Version is the schema version current at the checkpoint.
	Version int `json:"version"`
	// Snapshot is "pending", "running" or "done".
	Snapshot string `json:"snapshot"`
	// After holds the JSON key of the last snapshotted row, when running.
	After json.RawMessage `json:"after,omitempty"`
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

// checkpoint is what a reader commits with every Kafka transaction.
type checkpoint struct {
	Flavor string `json:"flavor"`
	// ServerID is the @@server_id of the server the position belongs to;
	// resuming on the same server checks that its binlog history still
	// holds the position (RESET MASTER or a restored backup rewrite it).
	ServerID uint32 `json:"server_id,omitempty"`
	// Position is where streaming resumes.
	Position position `json:"position"`
	// TxRows counts the row changes of the transaction starting at
	// Position that are already published (a transaction split across
	// Kafka transactions); a restart skips that many.
	TxRows int `json:"tx_rows,omitempty"`
	// Tables maps "db.table" to its state.
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

// gtidSet parses the checkpoint's GTID set for the flavor, or returns nil
// when the checkpoint has none.
func (p position) gtidSet(flavor string) (gomysql.GTIDSet, error) {
	if p.GTIDSet == "" {
		return nil, nil
	}
	return gomysql.ParseGTIDSet(flavor, p.GTIDSet)
}
