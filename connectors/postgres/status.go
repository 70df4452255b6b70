package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/schema"
)

var _ connectors.Statuser = (*Source)(nil)

// Status describes a committed checkpoint against the server: the WAL
// bytes between the checkpoint and the server's current position, the WAL
// the slot retains, and each table's snapshot progress against the
// planner's row estimate.
func (s *Source) Status(ctx context.Context, checkpoint []byte) (*connectors.Status, error) {
	cp, err := parseCheckpoint(checkpoint)
	if err != nil {
		return nil, err
	}
	st := &connectors.Status{Position: cp.LSN.String(), SourceTime: cp.SourceTime, Heartbeat: cp.Heartbeat, LagBytes: -1, RetainedBytes: -1}
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var lag, retained *int64
	err = conn.QueryRow(ctx, `SELECT CASE WHEN $1::pg_lsn = '0/0' THEN NULL ELSE pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint END,
		(SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $2)`,
		cp.LSN.String(), s.cfg.Slot).Scan(&lag, &retained)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres wal position: %w", err)
	}
	if lag != nil {
		st.LagBytes = max(0, *lag)
	}
	if retained != nil {
		st.RetainedBytes = *retained
	}
	for _, name := range slices.Sorted(maps.Keys(cp.Tables)) {
		ts := cp.Tables[name]
		t := connectors.TableStatus{Table: name, Snapshot: ts.Snapshot, Rows: ts.Rows, Started: ts.Started}
		if id, err := schema.ParseTableID(name); err == nil && ts.Snapshot != snapDone {
			var est float64
			if conn.QueryRow(ctx, `SELECT GREATEST(c.reltuples, 0) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
				WHERE n.nspname = $1 AND c.relname = $2`, id.Database, id.Name).Scan(&est) == nil {
				t.Estimate = int64(est)
			}
		}
		st.Tables = append(st.Tables, t)
	}
	return st, nil
}
