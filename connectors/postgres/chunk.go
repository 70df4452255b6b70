package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tributary-dev/tributary/schema"
)

// codeUndefinedTable is the SQLSTATE of a missing table.
const codeUndefinedTable = "42P01"

// worker reads the chunks of the tables it is given, one table at a time,
// on its own connection.
func (sn *snapshotter) worker(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case run := <-sn.jobs:
			conn = sn.runTable(ctx, conn, run)
		}
	}
}

// chunkShape caches, for a run, the schema and decoders of the result
// columns it last saw.
type chunkShape struct {
	fields []pgconn.FieldDescription
	sch    *schema.Table
	decs   []decoder
	// keep holds the result columns that are the schema's columns, in
	// order: all but the generated ones, which the stream does not have.
	keep []int
}

// runTable reads a table's chunks from run.after until the end, a
// failure, or the run's cancellation. It returns the connection to reuse,
// nil when it was closed.
func (sn *snapshotter) runTable(ctx context.Context, conn *pgx.Conn, run *tableRun) *pgx.Conn {
	send := func(res chunkResult) bool {
		select {
		case sn.results <- res:
			return true
		case <-run.ctx.Done():
			return false
		}
	}
	var info *tableInfo
	var shape chunkShape
	after, size := run.after, sn.r.s.cfg.ChunkSize
	for seq := 0; ; seq++ {
		select {
		case <-run.ctx.Done():
			return conn
		case <-run.credit:
		}
		if conn == nil {
			c, err := sn.r.s.connect(run.ctx)
			if err != nil {
				send(chunkResult{run: run, err: err})
				return nil
			}
			conn = c
		}
		var err error
		if info == nil {
			if info, err = loadTable(run.ctx, conn, run.id); err == nil && info == nil {
				send(chunkResult{run: run, gone: true})
				return conn
			}
		}
		res := chunkResult{run: run, after: after, window: fmt.Sprintf("%s.%d.%d", sn.token, run.gen, seq)}
		if err == nil {
			err = sn.chunk(run.ctx, conn, info, &shape, &size, &res)
		}
		if run.ctx.Err() != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil
		}
		if err != nil {
			res.err = err
			if pgCode(err) == codeUndefinedTable {
				res.err, res.gone = nil, true
			}
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
		}
		if !send(res) || res.err != nil || res.gone || res.done {
			return conn
		}
		after = res.last
	}
}

// chunkBytes bounds the value bytes a chunk holds: a table of large rows
// gets smaller chunks than ChunkSize.
const chunkBytes = 32 << 20

// chunk writes the low watermark, reads up to *size rows after res.after
// in key order, and writes the high watermark. It stops early at
// chunkBytes and adapts *size to the table's row size.
func (sn *snapshotter) chunk(ctx context.Context, conn *pgx.Conn, info *tableInfo, shape *chunkShape, size *int, res *chunkResult) error {
	run := res.run
	res.total = info.rows
	if err := sn.emitWatermark(ctx, conn, "low", res); err != nil {
		return err
	}
	if err := waitCommitsVisible(ctx, conn); err != nil {
		return err
	}
	limit := *size
	sql, args := chunkQuery(info, run.key, res.after, limit)
	rr := conn.PgConn().ExecParams(ctx, sql, args, nil, nil, nil)
	if fields := rr.FieldDescriptions(); !shape.same(fields) {
		// The first chunk, or the table changed: read the catalog (the
		// connection must be free for it), then select again; any select
		// after the low watermark is a valid chunk.
		fields = slices.Clone(fields)
		if _, err := rr.Close(); err != nil {
			return err
		}
		if err := sn.shapeOf(ctx, conn, run.id, fields, shape); err != nil {
			return err
		}
		rr = conn.PgConn().ExecParams(ctx, sql, args, nil, nil, nil)
		if !shape.same(rr.FieldDescriptions()) {
			rr.Close()
			return fmt.Errorf("snapshot %s: the table changed while being read; will retry", run.id)
		}
	}
	res.sch = shape.sch
	keyPos := shape.sch.KeyIndex
	raw := make([]string, len(keyPos))
	res.rows = make([][]any, 0, limit)
	bytes, full := 0, false
	for !full && rr.NextRow() {
		vals := rr.Values()
		row := make([]any, len(shape.keep))
		for i, f := range shape.keep {
			v := vals[f]
			if v == nil {
				continue
			}
			bytes += len(v)
			x, err := shape.decs[i](v)
			if err != nil {
				rr.Close()
				return fmt.Errorf("decode %s.%s: %w", run.id, shape.sch.Columns[i].Name, err)
			}
			row[i] = x
		}
		for j, i := range keyPos {
			raw[j] = string(vals[shape.keep[i]])
		}
		res.rows = append(res.rows, row)
		full = bytes > chunkBytes
	}
	if _, err := rr.Close(); err != nil { // reads and drops what is left
		return err
	}
	res.last = raw
	switch {
	case full:
		*size = len(res.rows)
	case bytes < chunkBytes/4:
		*size = min(sn.r.s.cfg.ChunkSize, 2*limit)
	}
	res.done = !full && len(res.rows) < limit
	return sn.emitWatermark(ctx, conn, "high", res)
}

// same reports whether fields are the columns the cached shape is for.
func (shape *chunkShape) same(fields []pgconn.FieldDescription) bool {
	if shape.sch == nil || len(fields) != len(shape.fields) {
		return false
	}
	for i, f := range fields {
		g := shape.fields[i]
		if f.Name != g.Name || f.DataTypeOID != g.DataTypeOID || f.TypeModifier != g.TypeModifier {
			return false
		}
	}
	return true
}

// shapeOf reads the schema and decoders of a chunk's result columns.
func (sn *snapshotter) shapeOf(ctx context.Context, conn *pgx.Conn, id schema.TableID, fields []pgconn.FieldDescription, shape *chunkShape) error {
	info, err := loadTable(ctx, conn, id)
	if err != nil {
		return err
	}
	cols := make([]catColumn, 0, len(fields))
	shape.keep = shape.keep[:0]
	for i, f := range fields {
		if info != nil && info.generated(f.Name) {
			sn.r.s.log.Warn("generated column left out: PostgreSQL does not publish generated columns to logical replication",
				"table", id, "column", f.Name)
			continue
		}
		cols = append(cols, catColumn{name: f.Name, typ: f.DataTypeOID, typmod: f.TypeModifier})
		shape.keep = append(shape.keep, i)
	}
	sch, decs, prob, err := sn.r.reg.build(ctx, conn, id, cols, nil)
	switch {
	case err != nil:
		return err
	case prob != nil:
		return fatal(fmt.Errorf("snapshot %s: %s", id, prob))
	case sch == nil:
		return fmt.Errorf("snapshot %s: the table has no key", id)
	}
	shape.fields = append(shape.fields[:0], fields...)
	shape.sch, shape.decs = sch, decs
	return nil
}

// chunkQuery selects the rows after the key values after (text, in key
// order), in key order. A partitioned table is read through its root;
// an ordinary one without its inheritance children, which publish apart.
func chunkQuery(info *tableInfo, key []string, after []string, size int) (string, [][]byte) {
	var b strings.Builder
	b.WriteString("SELECT * FROM ")
	if info.kind != 'p' {
		b.WriteString("ONLY ")
	}
	b.WriteString(quoteTable(info.id))
	cols := make([]string, len(key))
	for i, k := range key {
		cols[i] = quoteIdent(k)
	}
	var args [][]byte
	if after != nil {
		marks := make([]string, len(after))
		for i, a := range after {
			marks[i] = "$" + strconv.Itoa(i+1)
			args = append(args, []byte(a))
		}
		fmt.Fprintf(&b, " WHERE (%s) > (%s)", strings.Join(cols, ", "), strings.Join(marks, ", "))
	}
	fmt.Fprintf(&b, " ORDER BY %s LIMIT %d", strings.Join(cols, ", "), size)
	return b.String(), args
}

// emitWatermark commits a watermark message on its own.
func (sn *snapshotter) emitWatermark(ctx context.Context, conn *pgx.Conn, kind string, res *chunkResult) error {
	content, _ := json.Marshal(wmMessage{Kind: kind, Window: res.window, Table: res.run.id.String(), Gen: res.run.gen})
	if _, err := conn.Exec(ctx, `SELECT pg_logical_emit_message(true, $1, $2)`, sn.r.s.watermarkPrefix(), string(content)); err != nil {
		return fmt.Errorf("write %s watermark: %w", kind, err)
	}
	return nil
}

// committedRunning lists the transactions that have committed (in the
// commit log) but still hold their transaction lock: their commit record is
// in the WAL, yet a new snapshot does not see them, because a backend
// leaves the running set after it writes its commit (a synchronous
// replication wait sits in between).
//
// pg_locks shows 32-bit xids; pg_xact_status wants 64-bit ones, which get
// the epoch of the nearest xid to the current one.
const committedRunning = `WITH cur AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS x),
	running AS (SELECT l.transactionid::text::bigint AS xid, ((c.x >> 32) << 32) | l.transactionid::text::bigint AS c, c.x
		FROM pg_locks l, cur c WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
		AND l.pid IS NOT NULL AND l.pid <> pg_backend_pid())
	SELECT xid FROM running WHERE pg_xact_status((CASE WHEN c > x + 2147483648 THEN c - 4294967296
		WHEN c < x - 2147483648 THEN c + 4294967296 ELSE c END)::text::xid8) = 'committed'`

// stillLocked counts which of the given transactions still hold their lock.
const stillLocked = `SELECT count(*) FROM pg_locks
	WHERE locktype = 'transactionid' AND mode = 'ExclusiveLock' AND granted AND transactionid::text::bigint = ANY($1)`

// waitCommitsVisible waits until every transaction whose commit precedes
// the low watermark in the WAL is visible to a new snapshot. Without it a
// transaction that commits just before the watermark, but leaves the
// running set after the chunk's select takes its snapshot, would be in the
// stream before the window and missing from the chunk: the chunk's stale
// row would overwrite it. The candidates are the transactions committed but
// still running now (two looks a millisecond apart, which also catch a
// backend between writing its commit record and marking the commit log);
// the wait ends when they have all left.
func waitCommitsVisible(ctx context.Context, conn *pgx.Conn) error {
	var xids []int64
	for look := range 2 {
		rows, err := conn.Query(ctx, committedRunning)
		if err != nil {
			return fmt.Errorf("read running transactions: %w", err)
		}
		found, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return fmt.Errorf("read running transactions: %w", err)
		}
		xids = append(xids, found...)
		if look == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for len(xids) > 0 {
		var n int
		if err := conn.QueryRow(ctx, stillLocked, xids).Scan(&n); err != nil {
			return fmt.Errorf("read running transactions: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d committed transactions stayed invisible for 5 minutes (a synchronous standby that does not answer?)", n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return nil
}
