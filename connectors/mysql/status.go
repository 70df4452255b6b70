package mysql

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/schema"
)

var _ connectors.Statuser = (*Source)(nil)

// Status describes a committed checkpoint against the server: the binlog
// bytes between the checkpoint and the server's current position, and
// each table's snapshot progress against the server's row estimate.
func (s *Source) Status(ctx context.Context, checkpoint []byte) (*connectors.Status, error) {
	cp, err := parseCheckpoint(checkpoint)
	if err != nil {
		return nil, err
	}
	st := &connectors.Status{Position: cp.Position.String(), SourceTime: cp.SourceTime, Heartbeat: cp.Heartbeat, LagBytes: -1, RetainedBytes: -1}
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	if checkpoint != nil {
		if st.LagBytes, err = binlogLag(conn, cp.Position); err != nil {
			return nil, err
		}
	}
	for _, name := range slices.Sorted(maps.Keys(cp.Tables)) {
		ts := cp.Tables[name]
		t := connectors.TableStatus{Table: name, Snapshot: ts.Snapshot, Rows: ts.Rows, Started: ts.Started}
		if ts.Snapshot != snapDone {
			if id, err := schema.ParseTableID(name); err == nil {
				r, err := conn.Execute("SELECT IFNULL(TABLE_ROWS, 0) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?", id.Database, id.Name)
				if err == nil && r.RowNumber() > 0 {
					t.Estimate, _ = r.GetInt(0, 0)
				}
			}
		}
		st.Tables = append(st.Tables, t)
	}
	return st, nil
}

// binlogLag sums the binlog bytes from pos to the server's current
// position; -1 when pos's file is no longer on the server.
func binlogLag(conn *client.Conn, pos position) (int64, error) {
	r, err := conn.Execute("SHOW BINARY LOGS")
	if err != nil {
		return 0, fmt.Errorf("mysql show binary logs: %w", err)
	}
	var lag int64
	found := false
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		size, _ := r.GetInt(i, 1)
		switch {
		case name == pos.File:
			found = true
			lag += max(0, size-int64(pos.Pos))
		case found:
			lag += size
		}
	}
	if !found {
		return -1, nil
	}
	return lag, nil
}
