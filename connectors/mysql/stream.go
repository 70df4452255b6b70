package mysql

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/schema"
)

// reader is the state of one run: the stream goroutine owns all of it.
type reader struct {
	s    *Source
	sink connectors.Sink
	srv  *server
	reg  *registry
	cp   *checkpoint
	conn *client.Conn

	gset gomysql.GTIDSet // executed through pos, when the server uses GTIDs
	pos  position        // the last transaction boundary processed
	cur  position        // just after the last event received
	// gsetMoved says pos.GTIDSet lags gset: the set's text is made when a
	// checkpoint needs it, not at every transaction (see gtidPos).
	gsetMoved bool

	inTx    bool
	txBegun bool // the open transaction started with BEGIN
	txStart position
	txGTID  string
	txMaria *gomysql.MariadbGTID // txGTID of a MariaDB transaction, parsed
	txTime  time.Time
	txRows  int // captured row changes seen in the open transaction
	skip    int // row changes of the first transaction already published

	events    int       // binlog events received, for the watchdog
	watched   int       // events at the watchdog's last look
	lastEvent time.Time // when the watchdog last saw events arrive
	staged    int       // row changes staged since the last commit
	stagedAt  time.Time
	dirty     bool // the checkpoint changed since the last commit
	committed time.Time

	snap *snapshotter
	slab []schema.Event // events to hand out; see (*reader).event

	lagPolled time.Time               // when pollLag last ran
	estimated map[schema.TableID]bool // tables whose row estimate is recorded
}

// runOnce runs the reader from the committed checkpoint until an error or
// the end of ctx.
func (s *Source) runOnce(ctx context.Context, sink connectors.Sink, started *bool) error {
	raw, err := sink.Open(ctx)
	if err != nil {
		return err
	}
	cp, err := parseCheckpoint(raw)
	if err != nil {
		return fatal(err)
	}
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	srv, err := inspect(conn, s.cfg.User)
	if err != nil {
		return err
	}
	if !srv.rowMetadata {
		s.log.Warn("binlog_row_metadata is not FULL: column names come from information_schema, which is wrong for rows written before a later DDL; SET GLOBAL binlog_row_metadata = 'FULL' to fix")
	}
	r := &reader{s: s, sink: sink, srv: srv, cp: cp, conn: conn, reg: newRegistry(s, srv, conn), committed: time.Now()}
	if err := r.start(ctx); err != nil {
		return err
	}
	return r.loop(ctx, started)
}

// start positions the reader: from the checkpoint, or from the server's
// current position with every captured table queued for snapshot.
func (r *reader) start(ctx context.Context) error {
	history, err := r.sink.Schemas(ctx)
	if err != nil {
		return err
	}
	r.reg.restore(history, r.cp.Tables)
	var resynced map[schema.TableID]*schema.Table
	if r.s.cfg.ResetPosition && r.cp.Position.File != "" {
		if resynced, err = r.reset(ctx); err != nil {
			return err
		}
	}
	if r.cp.Position.File == "" {
		if err := r.initialize(ctx); err != nil {
			return err
		}
	} else if r.cp.Flavor != r.srv.flavor {
		return fatal(fmt.Errorf("checkpoint was written for a %s server but %s is %s", r.cp.Flavor, r.s.cfg.Addr, r.srv.flavor))
	} else if err := r.addIncluded(ctx); err != nil {
		return err
	}
	for id, old := range resynced {
		if st := r.cp.Tables[id.String()]; st != nil {
			st.Resync = true
			continue
		}
		// No longer captured (dropped while the reader was away): the end
		// marker right away removes the rows the lake still holds.
		if err := r.sink.Add(ctx, r.marker(old, schema.OpResyncEnd)); err != nil {
			return err
		}
	}
	for _, id := range r.s.cfg.Resnapshot {
		if err := r.resnapshot(ctx, id); err != nil {
			return err
		}
	}
	r.pos, r.cur, r.skip = r.cp.Position, r.cp.Position, r.cp.TxRows
	if r.srv.gtid {
		if r.gset, err = r.pos.gtidSet(r.srv.flavor); err != nil {
			return fatal(fmt.Errorf("checkpoint gtid set %q: %w", r.pos.GTIDSet, err))
		}
		if r.gset == nil {
			r.gset, _ = gomysql.ParseGTIDSet(r.srv.flavor, "")
		}
	}
	if err := r.checkPurged(); err != nil {
		return err
	}
	// From here on, checkpoints belong to this server.
	r.cp.ServerID = r.srv.serverID
	return nil
}

func (r *reader) tableVersion(id schema.TableID) int {
	if t := r.reg.tables[id]; t != nil && t.sch != nil {
		return t.sch.Version
	}
	return 0
}

// initialize starts a new reader at the server's current position and
// publishes the first schema version of every captured table.
func (r *reader) initialize(ctx context.Context) error {
	pos, err := masterPosition(r.conn, r.srv)
	if err != nil {
		return err
	}
	r.cp.Flavor, r.cp.Position = r.srv.flavor, pos
	ids, err := r.reg.listTables()
	if err != nil {
		return err
	}
	for _, id := range ids {
		cols, key, err := r.reg.load(id)
		if err != nil {
			return err
		}
		sch, err := r.reg.build(id, cols, key)
		if err != nil {
			return err
		}
		t := r.reg.get(id)
		if newSch := r.reg.adopt(t, cols, sch); newSch != nil {
			if err := r.sink.AddSchema(ctx, newSch); err != nil {
				return err
			}
		}
		if t.skip {
			r.s.log.Warn("table has no primary key; skipping it", "table", id)
			continue
		}
		st := &tableState{Version: t.sch.Version, Snapshot: snapPending}
		if r.s.cfg.NoSnapshot {
			st.Snapshot = snapDone
		}
		r.cp.Tables[id.String()] = st
	}
	r.s.log.Info("new reader: starting at the current binlog position", "position", pos.String(), "tables", len(ids))
	if len(ids) == 0 {
		// A user without SELECT sees no table at all: say so, since the
		// reader would otherwise stream nothing without a word.
		r.s.log.Warn("no table matches tables.include; check tables.include and tables.exclude, and that the user may see the tables (GRANT SELECT ON db.* TO '" + r.s.cfg.User + "'@'%')")
	}
	r.dirty = true
	return nil
}

// masterPosition reads the server's current binlog position.
func masterPosition(conn *client.Conn, srv *server) (position, error) {
	res, err := conn.Execute("SHOW MASTER STATUS")
	if err != nil {
		return position{}, fmt.Errorf("mysql show master status: %w", err)
	}
	if res.RowNumber() == 0 {
		return position{}, fatal(fmt.Errorf("mysql show master status returned nothing: binary logging is off; start the server with log_bin"))
	}
	var p position
	p.File, _ = res.GetString(0, 0)
	n, _ := res.GetUint(0, 1)
	p.Pos = uint32(n)
	switch {
	case srv.flavor == gomysql.MariaDBFlavor:
		v, err := variables(conn, "gtid_binlog_pos")
		if err != nil {
			return position{}, fmt.Errorf("mysql read gtid_binlog_pos: %w", err)
		}
		p.GTIDSet = v["gtid_binlog_pos"]
	case srv.gtid:
		s, _ := res.GetString(0, 4)
		p.GTIDSet = strings.ReplaceAll(s, "\n", "")
	}
	return p, nil
}

// checkPurged fails when the checkpoint's binlog file is gone.
func (r *reader) checkPurged() error {
	res, err := r.conn.Execute("SHOW BINARY LOGS")
	if err != nil {
		return fmt.Errorf("mysql show binary logs: %w", err)
	}
	for i := range res.RowNumber() {
		if f, _ := res.GetString(i, 0); f == r.pos.File {
			return r.checkHistory()
		}
	}
	if r.srv.gtid && r.pos.GTIDSet != "" {
		// The server finds GTID positions itself; it fails the dump with
		// error 1236 when they are purged.
		return nil
	}
	return r.purged(fmt.Errorf("binlog file %s is not on the server", r.pos.File))
}

// checkHistory checks, on the MariaDB server the checkpoint was taken on,
// that the checkpoint's file and offset still end the checkpoint's GTID
// position. RESET MASTER (or restoring an older backup) starts the binlog
// and the GTID sequence again, and MariaDB then serves a GTID the reader
// already has from the new history: resuming would skip new transactions.
// On another server (a failover) the GTID position alone is the truth.
func (r *reader) checkHistory() error {
	if r.srv.flavor != gomysql.MariaDBFlavor || r.pos.GTIDSet == "" || r.cp.ServerID == 0 || r.cp.ServerID != r.srv.serverID {
		return nil
	}
	res, err := r.conn.Execute("SELECT BINLOG_GTID_POS(?, ?)", r.pos.File, r.pos.Pos)
	if err != nil {
		return fmt.Errorf("mysql binlog_gtid_pos: %w", err)
	}
	got, _ := res.GetString(0, 0)
	want, err := gomysql.ParseMariadbGTIDSet(r.pos.GTIDSet)
	if err != nil {
		return fatal(fmt.Errorf("checkpoint gtid set %q: %w", r.pos.GTIDSet, err))
	}
	if have, err := gomysql.ParseMariadbGTIDSet(got); err == nil && sameDomains(want.(*gomysql.MariadbGTIDSet), have.(*gomysql.MariadbGTIDSet)) {
		return nil
	}
	return r.purged(fmt.Errorf("the server's binlog history changed: at %s:%d it is at GTID %q, the checkpoint says %q (RESET MASTER, or a restored backup)", r.pos.File, r.pos.Pos, got, r.pos.GTIDSet))
}

// sameDomains reports whether have holds each of want's domains at the
// same GTID (have may hold more domains: ones the reader never saw).
func sameDomains(want, have *gomysql.MariadbGTIDSet) bool {
	for d, w := range want.Sets {
		h, ok := have.Sets[d]
		if !ok || h.ServerID != w.ServerID || h.SequenceNumber != w.SequenceNumber {
			return false
		}
	}
	return true
}

func (r *reader) purged(err error) error {
	return fatal(fmt.Errorf("%w: the reader's position %s is no longer in the server's binlogs (%v); the changes since are lost to it. "+
		"Keep binlogs longer (binlog_expire_logs_seconds / expire_logs_days), then restart the reader with --reset-position to take a new snapshot of every table",
		ErrPositionPurged, r.pos, err))
}

// syncer starts binlog streaming at the reader's position.
func (r *reader) syncer(f *feed) (*replication.BinlogSyncer, *replication.BinlogStreamer, error) {
	host, portStr, err := net.SplitHostPort(r.s.cfg.Addr)
	if err != nil {
		return nil, nil, fatal(fmt.Errorf("mysql address %q: %w", r.s.cfg.Addr, err))
	}
	port, _ := strconv.Atoi(portStr)
	cfg := replication.BinlogSyncerConfig{
		ServerID:                r.s.cfg.ServerID,
		Flavor:                  r.srv.flavor,
		Host:                    host,
		Port:                    uint16(port),
		User:                    r.s.cfg.User,
		Password:                r.s.cfg.Password,
		TLSConfig:               r.s.cfg.TLS,
		Charset:                 "utf8mb4",
		TimestampStringLocation: time.UTC,
		RenderJSONAsMySQLText:   true, // JSON text faithful to the source (see types.go)
		// No ReadTimeout: it costs a deadline syscall per packet. The loop's
		// watchdog detects a silent connection from missing heartbeats.
		HeartbeatPeriod:  r.s.cfg.HeartbeatInterval,
		DisableRetrySync: true,
		// Events come through the feed, in batches, not one channel
		// operation each, with their rows undecoded (binlogrows.go).
		SynchronousEventHandler: f,
		RowsEventDecodeFunc:     f.headerOnly,
		Logger:                  r.s.log.With("component", "binlog"),
	}
	bs := replication.NewBinlogSyncer(cfg)
	var st *replication.BinlogStreamer
	if r.srv.gtid && r.pos.GTIDSet != "" {
		st, err = bs.StartSyncGTID(r.gset.Clone())
	} else {
		st, err = bs.StartSync(gomysql.Position{Name: r.pos.File, Pos: r.pos.Pos})
	}
	if err != nil {
		bs.Close()
		return nil, nil, fmt.Errorf("mysql start binlog sync at %s: %w", r.pos, err)
	}
	return bs, st, nil
}

// loop is the event loop: binlog events, snapshot chunks and the commit
// timer, all handled on this goroutine.
func (r *reader) loop(ctx context.Context, started *bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := newFeed()
	bs, st, err := r.syncer(f)
	if err != nil {
		return err
	}
	defer bs.Close()
	// Runs before bs.Close, which waits for a reading goroutine that may
	// be blocked on a full feed.
	defer f.close()
	*started = true
	r.s.cfg.Metrics.Streaming()
	// With a synchronous handler the streamer only reports the error that
	// ends the stream.
	streamErr := make(chan error, 1)
	go func() {
		_, err := st.GetEvent(ctx)
		streamErr <- err
	}()
	r.snap = newSnapshotter(r.s)
	var snapDone sync.WaitGroup
	snapDone.Go(func() { r.snap.run(ctx) })
	// Deferred after cancel, so it runs first: stop the snapshotter and
	// wait for it before the run's connections go away.
	defer snapDone.Wait()
	defer cancel()
	tick := time.NewTicker(r.s.cfg.CommitInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-streamErr:
			if ctx.Err() != nil {
				return nil
			}
			// Events read before the error are still queued.
			if err := r.handleBatch(ctx, f.take()); err != nil {
				return err
			}
			return r.streamError(err)
		case <-f.ready:
			if err := r.handleBatch(ctx, f.take()); err != nil {
				return err
			}
		case res := <-r.snap.results:
			if err := r.chunkArrived(ctx, res); err != nil {
				return err
			}
		case id := <-r.s.resnap:
			if err := r.resnapshot(ctx, id); err != nil {
				return err
			}
		case <-tick.C:
			if err := r.watchdog(); err != nil {
				return err
			}
			if err := r.idle(ctx); err != nil {
				return err
			}
			r.pollLag()
		}
	}
}

func (r *reader) streamError(err error) error {
	if errCode(err) == erMasterFatalReading {
		return r.purged(err)
	}
	if isAccessDenied(err) {
		return fatal(fmt.Errorf("mysql binlog dump as %q: %w; GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO it", r.s.cfg.User, err))
	}
	return fmt.Errorf("mysql binlog stream: %w", err)
}

// handleBatch handles events in order.
func (r *reader) handleBatch(ctx context.Context, batch []fed) error {
	for i := range batch {
		r.events++
		if err := r.handle(ctx, batch[i].ev, batch[i].rows); err != nil {
			return err
		}
		batch[i] = fed{} // the feed reuses the slice: let the event go
	}
	return nil
}

// handle dispatches one binlog event; body holds the undecoded rows of a
// rows event.
func (r *reader) handle(ctx context.Context, ev *replication.BinlogEvent, body []byte) error {
	h := ev.Header
	var err error
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		// The server starts a stream with an artificial rotate to the file
		// it reads; with a GTID start it names offset 4 although the
		// reader is further on, and the events it skips are never sent.
		// Only a move to another file changes the position.
		if file := string(e.NextLogName); file != r.cur.File {
			r.cur = position{File: file, Pos: uint32(e.Position)}
		}
		if !r.inTx {
			r.pos.File, r.pos.Pos = r.cur.File, r.cur.Pos
		}
		return nil
	case *replication.MariadbGTIDEvent:
		r.beginTx(mariaGTID(&e.GTID), h)
		r.txMaria = &e.GTID
	case *replication.GTIDEvent:
		r.beginTx(mysqlGTID(e), h)
	case *replication.QueryEvent:
		err = r.query(ctx, e, h)
	case *replication.RowsEvent:
		err = r.rows(ctx, e, h, body)
	case *replication.XIDEvent:
		r.advance(h)
		err = r.endTx(ctx)
	case *replication.HeartbeatEvent:
		// Sent only when the server has had nothing to send for a
		// heartbeat period: the reader is caught up.
		if !r.inTx {
			r.s.cfg.Metrics.CaughtUp(time.Now())
		}
	}
	if err != nil {
		return err
	}
	r.advance(h)
	return nil
}

// advance moves the stream position past the event. Positions only grow
// within a file: the header events a GTID start resends from the file's
// beginning do not move it back.
func (r *reader) advance(h *replication.EventHeader) {
	if h.LogPos > r.cur.Pos && h.EventType != replication.ROTATE_EVENT {
		r.cur.Pos = h.LogPos
	}
	if !r.inTx {
		r.pos.File, r.pos.Pos = r.cur.File, r.cur.Pos
	}
}

// mariaGTID formats a MariaDB GTID as domain-server-sequence.
func mariaGTID(g *gomysql.MariadbGTID) string {
	var b [64]byte
	out := strconv.AppendUint(b[:0], uint64(g.DomainID), 10)
	out = strconv.AppendUint(append(out, '-'), uint64(g.ServerID), 10)
	out = strconv.AppendUint(append(out, '-'), g.SequenceNumber, 10)
	return string(out)
}

func mysqlGTID(e *replication.GTIDEvent) string {
	next, err := e.GTIDNext()
	if err != nil {
		return ""
	}
	return next.String()
}

func (r *reader) beginTx(gtid string, h *replication.EventHeader) {
	r.inTx, r.txBegun = true, false
	r.txStart = r.pos
	r.txGTID, r.txMaria = gtid, nil
	r.txTime = time.Unix(int64(h.Timestamp), 0)
	r.txRows = 0
}

// endTx closes the open transaction: the position moves past it and a
// commit happens when the batch is full or old enough.
func (r *reader) endTx(ctx context.Context) error {
	if !r.inTx {
		return nil
	}
	r.inTx = false
	r.skip = 0
	if r.gset != nil && r.txGTID != "" {
		var err error
		if ms, ok := r.gset.(*gomysql.MariadbGTIDSet); ok && r.txMaria != nil {
			err = ms.AddSet(r.txMaria) // as Update does, without parsing
		} else {
			err = r.gset.Update(r.txGTID)
		}
		if err != nil {
			return fmt.Errorf("mysql gtid %s: %w", r.txGTID, err)
		}
	}
	r.pos = r.cur
	r.gsetMoved = r.gset != nil
	r.cp.SourceTime = r.txTime
	r.s.cfg.Metrics.SourceTime(r.txTime)
	if r.txRows > 0 {
		r.dirty = true
		r.s.cfg.Metrics.Transaction(r.txRows)
	}
	if err := r.emitReadyChunk(ctx); err != nil {
		return err
	}
	if r.staged >= r.s.cfg.MaxBatch || r.staged > 0 && time.Since(r.stagedAt) >= r.s.cfg.CommitInterval {
		return r.commit(ctx)
	}
	return r.scheduleChunk()
}

// watchdog fails the run when the server has sent nothing, not even a
// heartbeat, for three heartbeat intervals: the connection is dead.
func (r *reader) watchdog() error {
	now := time.Now()
	if r.events != r.watched || r.lastEvent.IsZero() {
		r.watched, r.lastEvent = r.events, now
		return nil
	}
	if silent := now.Sub(r.lastEvent); silent > 3*r.s.cfg.HeartbeatInterval {
		return fmt.Errorf("mysql binlog stream: nothing received for %v (heartbeat every %v): reconnecting", silent.Round(time.Second), r.s.cfg.HeartbeatInterval)
	}
	return nil
}

// idle runs on the commit timer: it commits what waits at a transaction
// boundary, and commits an idle reader's checkpoint every heartbeat.
func (r *reader) idle(ctx context.Context) error {
	if r.inTx {
		return nil
	}
	if err := r.emitReadyChunk(ctx); err != nil {
		return err
	}
	if r.staged > 0 || r.dirty || time.Since(r.committed) >= r.s.cfg.HeartbeatInterval {
		if err := r.commit(ctx); err != nil {
			return err
		}
	}
	return r.scheduleChunk()
}

// commit writes the checkpoint with everything staged. Inside a source
// transaction (a split large transaction) the checkpoint points at the
// transaction's start and counts the row changes already published. The
// commit is queued when the sink can (connectors.AsyncCommitter): the loop
// goes on reading and staging while Kafka commits, and a failed commit
// fails a later sink call, which restarts the reader from the last
// committed checkpoint.
func (r *reader) commit(ctx context.Context) error {
	if err := r.endResyncs(ctx); err != nil {
		return err
	}
	r.cp.Position, r.cp.TxRows = r.gtidPos(), 0
	if r.inTx {
		// The set has not moved since the transaction began.
		r.cp.Position, r.cp.TxRows = r.txStart, r.txRows
		if r.gset != nil {
			r.cp.Position.GTIDSet = r.pos.GTIDSet
		}
	}
	r.cp.Heartbeat = time.Now().UTC()
	b, err := json.Marshal(r.cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := connectors.CommitAsync(ctx, r.sink, b); err != nil {
		return err
	}
	r.staged, r.dirty, r.committed = 0, false, time.Now()
	return nil
}

// gtidPos returns pos with the text of the GTID set executed through it.
func (r *reader) gtidPos() position {
	if r.gsetMoved {
		r.pos.GTIDSet = r.gset.String()
		r.gsetMoved = false
	}
	return r.pos
}

// stage hands one event to the sink.
func (r *reader) stage(ctx context.Context, e *schema.Event) error {
	if r.staged == 0 {
		r.stagedAt = time.Now()
	}
	r.staged++
	return r.sink.Add(ctx, e)
}

func (r *reader) source(row int) schema.Source {
	return schema.Source{
		Connector:  "mysql",
		Name:       r.s.cfg.Name,
		ServerID:   r.s.cfg.ServerID,
		GTID:       r.txGTID,
		TxID:       r.txGTID,
		File:       r.txStart.File,
		Pos:        uint64(r.txStart.Pos),
		Row:        row,
		CommitTime: r.txTime,
	}
}
