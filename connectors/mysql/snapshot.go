package mysql

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tributary-dev/tributary/schema"
)

// The snapshot reads each table in primary-key chunks without locks, while
// the stream goes on (the DBLog algorithm, with the server's own snapshot
// position as the watermark):
//
//  1. At a transaction boundary the stream opens a window for the table at
//     its current position S and asks for the chunk after the last key.
//  2. The snapshotter starts a consistent-snapshot transaction, reads the
//     binlog position P that snapshot corresponds to (MariaDB's
//     binlog_snapshot_file/position), and selects the chunk.
//  3. While the window is open the stream records every key of the table it
//     changes. Once the stream has passed P, the chunk's rows whose keys the
//     stream changed are dropped (the stream's own events carry their newer
//     state) and the rest are published as reads. A chunk whose P lies
//     before S, or whose table saw DDL inside the window, is read again.

// window is the open snapshot window of one table.
type window struct {
	table  schema.TableID
	start  position
	keys   map[string]struct{}
	ddl    bool
	result *chunkResult
	since  time.Time
}

// touch records the keys of a change made inside the window.
func (w *window) touch(sch *schema.Table, before, after []any) {
	for _, img := range [][]any{before, after} {
		if img == nil {
			continue
		}
		if k, err := schema.AppendKey(nil, &schema.Event{Table: sch, After: img}); err == nil {
			w.keys[string(k)] = struct{}{}
		}
	}
}

type chunkJob struct {
	table schema.TableID
	key   []string
	after []any // key values of the last row read, nil for the first chunk
	size  int
}

type chunkResult struct {
	job  chunkJob
	at   position // the binlog position the chunk's snapshot corresponds to
	sch  *schema.Table
	cols []column
	rows [][]any
	done bool
	err  error
}

// snapshotter reads chunks on its own connection and goroutine.
type snapshotter struct {
	s       *Source
	jobs    chan chunkJob
	results chan chunkResult
	window  *window
	conn    *client.Conn
	flavor  string
	cancel  context.CancelFunc
}

func newSnapshotter(s *Source) *snapshotter {
	return &snapshotter{s: s, jobs: make(chan chunkJob, 1), results: make(chan chunkResult, 1)}
}

// run reads the chunks it is asked for until ctx ends; the connection is
// its own and closed when it returns.
func (sn *snapshotter) run(ctx context.Context) {
	defer sn.closeConn()
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-sn.jobs:
			res := sn.chunkAgain(ctx, j)
			select {
			case sn.results <- res:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (sn *snapshotter) closeConn() {
	if sn.conn != nil {
		sn.conn.Close()
		sn.conn = nil
	}
}

// chunkAgain reads one chunk, again when DDL changed the table between
// reading its columns and selecting them (a column dropped or renamed,
// the table's definition changed under the snapshot): the next try reads
// the columns again. Only a change that keeps happening fails the reader.
func (sn *snapshotter) chunkAgain(ctx context.Context, j chunkJob) chunkResult {
	for try := 1; ; try++ {
		res := sn.chunk(ctx, j)
		if try == maxChunkTries || !tableChanged(res.err) || ctx.Err() != nil {
			return res
		}
		sn.s.log.Info("snapshot: the table changed under the chunk; reading it again", "table", j.table, "err", res.err)
	}
}

// maxChunkTries bounds the tries of a chunk whose table keeps changing.
const maxChunkTries = 5

// tableChanged reports whether err says the table changed under a
// snapshot's query.
func tableChanged(err error) bool {
	var me *gomysql.MyError
	return errors.As(err, &me) && (me.Code == gomysql.ER_BAD_FIELD_ERROR || me.Code == gomysql.ER_TABLE_DEF_CHANGED)
}

// chunk reads one chunk inside a consistent snapshot.
func (sn *snapshotter) chunk(ctx context.Context, j chunkJob) (res chunkResult) {
	res.job = j
	if sn.conn == nil {
		conn, err := sn.s.connect(ctx)
		if err != nil {
			res.err = err
			return res
		}
		sn.conn = conn
		if _, err := conn.Execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
			res.err = fmt.Errorf("mysql snapshot isolation: %w", err)
			return res
		}
	}
	conn := sn.conn
	// A cancelled run aborts the chunk's query by closing its connection.
	abort := context.AfterFunc(ctx, func() { conn.Close() })
	defer abort()
	fail := func(err error) chunkResult {
		_ = conn.Rollback()
		sn.closeConn()
		res.err = fmt.Errorf("mysql snapshot %s: %w", j.table, err)
		return res
	}
	cols, _, err := loadColumns(conn, j.table)
	if err != nil {
		return fail(err)
	}
	if len(cols) == 0 {
		// The table is gone; the stream's DDL handling decides the rest.
		res.done = true
		return res
	}
	sch := &schema.Table{ID: j.table, Key: j.key, Columns: make([]schema.Column, len(cols))}
	for i, c := range cols {
		sch.Columns[i] = c.Column
	}
	if err := sch.Prepare(); err != nil {
		return fail(err)
	}
	res.sch, res.cols = sch, cols
	if _, err := conn.Execute("START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
		return fail(err)
	}
	if res.at, err = snapshotPosition(conn); err != nil {
		return fail(err)
	}
	query, args := chunkQuery(j, sch, cols)
	stmt, err := conn.Prepare(query)
	if err != nil {
		return fail(err)
	}
	defer stmt.Close()
	var (
		result gomysql.Result
		ferr   error
	)
	err = stmt.ExecuteSelectStreaming(&result, func(row []gomysql.FieldValue) error {
		vals := make([]any, len(row))
		for i := range row {
			v, err := cols[i].fromBinary(row[i])
			if err != nil {
				ferr = fmt.Errorf("decode %s: %w", cols[i].Name, err)
				return ferr
			}
			vals[i] = v
		}
		res.rows = append(res.rows, vals)
		return nil
	}, nil, args...)
	if err != nil {
		return fail(err)
	}
	if err := conn.Commit(); err != nil {
		return fail(err)
	}
	res.done = len(res.rows) < j.size
	return res
}

// snapshotPosition reads the binlog position of the open consistent
// snapshot (MariaDB), or the current position (MySQL, which lacks it).
func snapshotPosition(conn *client.Conn) (position, error) {
	res, err := conn.Execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
	if err != nil {
		return position{}, err
	}
	var p position
	for i := range res.RowNumber() {
		name, _ := res.GetString(i, 0)
		val, _ := res.GetString(i, 1)
		switch strings.ToLower(name) {
		case "binlog_snapshot_file":
			p.File = val
		case "binlog_snapshot_position":
			var n uint64
			fmt.Sscan(val, &n)
			p.Pos = uint32(n)
		}
	}
	if p.File != "" {
		return p, nil
	}
	res, err = conn.Execute("SHOW MASTER STATUS")
	if err != nil || res.RowNumber() == 0 {
		return position{}, fmt.Errorf("read binlog position: %v", err)
	}
	p.File, _ = res.GetString(0, 0)
	n, _ := res.GetUint(0, 1)
	p.Pos = uint32(n)
	return p, nil
}

// chunkQuery builds the chunk SELECT: rows after the last key, in key
// order.
func chunkQuery(j chunkJob, sch *schema.Table, cols []column) (string, []any) {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(selectExpr(c))
	}
	b.WriteString(" FROM ")
	b.WriteString(quoteID(j.table))
	keyList := make([]string, len(j.key))
	for i, k := range j.key {
		keyList[i] = quoteIdent(k)
	}
	var args []any
	if j.after != nil {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(j.key)), ", ")
		fmt.Fprintf(&b, " WHERE (%s) > (%s)", strings.Join(keyList, ", "), marks)
		for n, i := range sch.KeyIndex {
			args = append(args, sqlArg(cols[i], j.after[n]))
		}
	}
	fmt.Fprintf(&b, " ORDER BY %s LIMIT %d", strings.Join(keyList, ", "), j.size)
	return b.String(), args
}

// sqlArg turns a key value back into a statement argument.
func sqlArg(c column, v any) any {
	switch x := v.(type) {
	case float32:
		return float64(x)
	case int32: // date
		return time.Unix(int64(x)*86400, 0).UTC().Format("2006-01-02")
	case int64:
		switch c.Type.Kind {
		case schema.KindTimestamp, schema.KindTimestampTZ:
			return time.UnixMicro(x).UTC().Format("2006-01-02 15:04:05.999999")
		case schema.KindTime:
			return formatTime(x)
		}
	}
	return v
}

func formatTime(us int64) string {
	sign := ""
	if us < 0 {
		sign, us = "-", -us
	}
	s := us / 1e6
	return fmt.Sprintf("%s%02d:%02d:%02d.%06d", sign, s/3600, s/60%60, s%60, us%1e6)
}

// scheduleChunk opens a window for the next chunk to read, when none is
// open and a table waits for its snapshot.
func (r *reader) scheduleChunk() error {
	if r.snap.window != nil || r.inTx {
		return nil
	}
	names := make([]string, 0, len(r.cp.Tables))
	for name, st := range r.cp.Tables {
		if st.Snapshot == snapPending || st.Snapshot == snapRunning {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	sort.Strings(names)
	name := names[0]
	st := r.cp.Tables[name]
	id, _ := schema.ParseTableID(name)
	t := r.reg.tables[id]
	if t == nil || t.sch == nil || t.skip {
		st.Snapshot = snapDone
		r.dirty = true
		return nil
	}
	j := chunkJob{table: id, key: t.sch.Key, size: r.s.cfg.ChunkSize}
	if st.Snapshot == snapRunning && len(st.After) > 0 {
		img, err := schema.DecodeImage(st.After, t.sch)
		if err != nil {
			return fatal(fmt.Errorf("checkpoint snapshot key of %s: %w", id, err))
		}
		for _, i := range t.sch.KeyIndex {
			j.after = append(j.after, img[i])
		}
	}
	if st.Snapshot == snapPending {
		r.estimateRows(t)
	}
	r.snap.window = &window{table: id, start: r.cur, keys: map[string]struct{}{}}
	r.snap.jobs <- j
	return nil
}

// chunkArrived takes a chunk from the snapshotter.
func (r *reader) chunkArrived(ctx context.Context, res chunkResult) error {
	w := r.snap.window
	if w == nil || w.table != res.job.table {
		return nil
	}
	if res.err != nil {
		r.snap.window = nil
		return res.err
	}
	if res.sch != nil && res.at.before(w.start) {
		// The snapshot is older than the window: read it again.
		r.snap.window = nil
		return r.scheduleChunk()
	}
	w.result, w.since = &res, time.Now()
	if !r.inTx {
		return r.emitReadyChunk(ctx)
	}
	return nil
}

// emitReadyChunk publishes the waiting chunk once the stream has reached
// the chunk's snapshot position. It runs at transaction boundaries only.
func (r *reader) emitReadyChunk(ctx context.Context) error {
	w := r.snap.window
	if w == nil || w.result == nil || r.inTx {
		return nil
	}
	res := w.result
	if res.sch != nil && r.cur.before(res.at) {
		if time.Since(w.since) < time.Second {
			return nil
		}
		// An idle stream may never see an event at exactly P; the
		// server's current position tells whether anything is left.
		now, err := masterPosition(r.conn, r.srv)
		if err != nil {
			return err
		}
		if now.File != r.cur.File || now.Pos != r.cur.Pos {
			return nil
		}
	}
	r.snap.window = nil
	if !w.ddl {
		if err := r.emitChunk(ctx, w, res); err != nil {
			return err
		}
	}
	// Ask for the next chunk at once, not at the next tick.
	return r.scheduleChunk()
}

func (r *reader) emitChunk(ctx context.Context, w *window, res *chunkResult) error {
	st := r.cp.Tables[w.table.String()]
	t := r.reg.tables[w.table]
	if st == nil || t == nil || t.sch == nil {
		return nil
	}
	if res.sch == nil {
		st.Snapshot, st.After, r.dirty = snapDone, nil, true
		return nil
	}
	if !res.sch.SameShape(t.sch) {
		sch, err := r.reg.build(w.table, res.cols, res.job.key)
		if err != nil {
			return err
		}
		if newSch := r.reg.adopt(t, res.cols, sch); newSch != nil {
			r.reg.invalidate(w.table)
			if err := r.publishSchema(ctx, newSch); err != nil {
				return err
			}
		}
	}
	src := schema.Source{Connector: "mysql", Name: r.s.cfg.Name, ServerID: r.s.cfg.ServerID, File: r.pos.File, Pos: uint64(r.pos.Pos), CommitTime: time.Now(), Snapshot: true}
	staged := 0
	for i, row := range res.rows {
		if len(w.keys) > 0 {
			k, err := schema.AppendKey(nil, &schema.Event{Table: res.sch, After: row})
			if err != nil {
				return err
			}
			if _, changed := w.keys[string(k)]; changed {
				continue
			}
		}
		src.Row = i
		if err := r.stage(ctx, &schema.Event{Table: t.sch, Op: schema.OpRead, After: row, Source: src}); err != nil {
			return err
		}
		staged++
	}
	if st.Snapshot != snapRunning {
		st.Started = time.Now().UTC()
	}
	st.Rows += int64(len(res.rows))
	tm := r.tableMetrics(t)
	tm.Events(byte(schema.OpRead), staged)
	tm.SnapshotRows(st.Rows)
	defer func() { tm.SnapshotState(st.Snapshot) }()
	if res.done {
		st.Snapshot, st.After = snapDone, nil
		r.s.log.Info("snapshot done", "table", w.table, "rows", st.Rows)
	} else {
		st.Snapshot = snapRunning
		last, err := schema.AppendKey(nil, &schema.Event{Table: res.sch, After: res.rows[len(res.rows)-1]})
		if err != nil {
			return err
		}
		st.After = last
	}
	r.dirty = true
	return nil
}
