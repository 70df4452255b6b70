package iceberg

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/iceberg-go/table"

	"github.com/tributary-dev/tributary/lake"
)

// TableStatus describes one lake table as `tributary status` shows it.
type TableStatus struct {
	Namespace, Name string
	// SnapshotID and LastCommit are the current snapshot and its time;
	// zero for a table without snapshots.
	SnapshotID int64
	LastCommit time.Time
	// Checkpoint is the Kafka position (and newest source time) of the
	// newest ingestion commit.
	Checkpoint lake.Checkpoint
	// Totals from the current snapshot's summary.
	Records, DataFiles, DeleteFiles, PositionDeletes int64
}

// Status lists every table of the catalog with its current snapshot,
// checkpoint and file counts. It changes nothing.
func (l *Lake) Status(ctx context.Context) ([]TableStatus, error) {
	cat, err := l.catalog(ctx)
	if err != nil {
		return nil, err
	}
	nss, err := cat.ListNamespaces(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var out []TableStatus
	for _, ns := range nss {
		for ident, err := range cat.ListTables(ctx, ns) {
			if err != nil {
				return nil, fmt.Errorf("list tables of %s: %w", strings.Join(ns, "."), err)
			}
			tbl, err := cat.LoadTable(ctx, ident)
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", strings.Join(ident, "."), err)
			}
			st, err := tableStatus(ident, tbl)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	return out, nil
}

func tableStatus(ident table.Identifier, tbl *table.Table) (TableStatus, error) {
	st := TableStatus{Namespace: strings.Join(ident[:len(ident)-1], "."), Name: ident[len(ident)-1]}
	cp, err := lastCheckpoint(tbl)
	if err != nil {
		return st, fmt.Errorf("table %s: %w", strings.Join(ident, "."), err)
	}
	st.Checkpoint = cp
	s := tbl.CurrentSnapshot()
	if s == nil {
		return st, nil
	}
	st.SnapshotID, st.LastCommit = s.SnapshotID, time.UnixMilli(s.TimestampMs).UTC()
	if s.Summary != nil {
		num := func(k string) int64 {
			n, _ := strconv.ParseInt(s.Summary.Properties[k], 10, 64)
			return n
		}
		st.Records, st.DataFiles = num("total-records"), num("total-data-files")
		st.DeleteFiles, st.PositionDeletes = num("total-delete-files"), num("total-position-deletes")
	}
	return st, nil
}
