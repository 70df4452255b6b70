package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/schema"
)

// reader is the state of one run; the stream goroutine owns all of it.
type reader struct {
	s    *Source
	sink connectors.Sink
	srv  *server
	q    *pgx.Conn // catalog queries, stream goroutine only
	repl *pgconn.PgConn
	// replIn is the read side of repl, under its protocol reader.
	replIn *replReader
	reg    *registry
	cp     *checkpoint
	spills *spillSet // the receiver's
	snap   *snapshotter

	// pos is the position everything before which has been handled: the
	// next checkpoint's LSN. acked is the last one committed to Kafka and
	// confirmed to the slot.
	pos, acked lsn
	tx         txState
	inStream   bool // inside a stream segment of a large transaction
	// rx is the receiver's view of the stream segments.
	rx struct {
		inStream bool
		xid      uint32
	}
	replayBuf []byte // the message buffer of spill replays
	chg       change

	staged   int // row changes staged since the last commit
	stagedAt time.Time
	dirty    bool // the checkpoint changed since the last commit
	// trail is set by a commit that published changes: the position the
	// stream reaches after them is committed as soon as the reader is
	// idle, not a heartbeat later, so that the slot frees the WAL and the
	// lag reads zero once a burst is published.
	trail     bool
	committed time.Time
	statusAt  time.Time
	reported  time.Time // when reportSnapshots last ran

	// inflight counts the bytes of messages received and not yet handled,
	// which the receiver keeps under maxInflight.
	inflight atomic.Int64
	// free returns handled batches to the receiver.
	free chan []wire
	// alloc hands out the events and images of row changes.
	alloc eventAlloc
}

// slab hands out copies of messages from shared 64 KiB blocks: one
// allocation for many small messages.
type slab struct{ buf []byte }

func (s *slab) copy(b []byte) []byte {
	if len(b) > 4<<10 {
		return bytes.Clone(b)
	}
	if cap(s.buf)-len(s.buf) < len(b) {
		s.buf = make([]byte, 0, 64<<10)
	}
	n := len(s.buf)
	s.buf = append(s.buf, b...)
	return s.buf[n:len(s.buf):len(s.buf)]
}

// maxInflight bounds the bytes of replication messages waiting for the
// loop, so that a slow Kafka does not grow the reader's memory.
const maxInflight = 8 << 20

// wireBatch and wireBatchBytes bound a batch of messages the receiver
// hands over at once.
const (
	wireBatch      = 256
	wireBatchBytes = 256 << 10
)

// txState is the source transaction being published.
type txState struct {
	open       bool
	xid        uint32
	txid       string // xid in decimal, the events' transaction id
	commitLSN  lsn
	commitTime time.Time
	// rows counts the captured row changes seen; skip is how many of the
	// first ones a previous run already published; skipAll is set for a
	// transaction published in full before.
	rows, skip int
	skipAll    bool
}

// wire is one message from the replication connection.
type wire struct {
	keepalive bool
	start     lsn       // XLogData: the WAL position of the message
	walEnd    lsn       // keepalive: the server's position
	sent      time.Time // keepalive: when the server sent it
	reply     bool
	data      []byte
	spill     *spill // with a stream commit: the transaction's messages
	err       error
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
	if cp.Slot != "" && cp.Slot != s.cfg.Slot {
		return fatal(fmt.Errorf("the checkpoint belongs to replication slot %s, not %s: keep postgres.slot as it was, or give the source a new name", cp.Slot, s.cfg.Slot))
	}
	q, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer q.Close(context.WithoutCancel(ctx))
	srv, err := s.inspect(ctx, q)
	if err != nil {
		return err
	}
	infos, err := s.checkTables(ctx, q)
	if err != nil {
		return err
	}
	ids := make([]schema.TableID, len(infos))
	for i, t := range infos {
		ids[i] = t.id
	}
	if err := s.ensurePublication(ctx, q, srv, ids); err != nil {
		return err
	}
	repl, replIn, err := s.connectReplication(ctx)
	if err != nil {
		return err
	}
	defer repl.Close(context.WithoutCancel(ctx))
	slot, err := s.ensureSlot(ctx, q, repl)
	if err != nil {
		return err
	}
	r := &reader{s: s, sink: sink, srv: srv, q: q, repl: repl, replIn: replIn, cp: cp, reg: newRegistry(s, newTypeCache()),
		spills: newSpillSet(s.cfg.SpillDir), committed: time.Now(), free: make(chan []wire, 8)}
	defer r.spills.close()
	if raw != nil {
		r.acked = cp.LSN
	}
	if err := r.start(ctx, slot, infos); err != nil {
		return err
	}
	return r.loop(ctx, started)
}

// checkTables lists the captured tables and checks that each has a key
// and a replica identity the reader can work with.
func (s *Source) checkTables(ctx context.Context, q querier) ([]*tableInfo, error) {
	ids, err := s.listTables(ctx, q)
	if err != nil {
		return nil, err
	}
	var (
		out   []*tableInfo
		probs []Problem
	)
	for _, id := range ids {
		t, err := loadTable(ctx, q, id)
		if err != nil {
			return nil, err
		}
		if t == nil {
			continue // dropped meanwhile
		}
		_, prob, noKey := s.keyOf(t)
		switch {
		case prob == nil:
			out = append(out, t)
		case noKey && s.cfg.SkipWithoutKey:
			s.log.Warn("table has no primary key; skipping it", "table", id)
		default:
			probs = append(probs, *prob)
		}
	}
	if len(probs) > 0 {
		return nil, problemsError(s.cfg.Addr, probs)
	}
	return out, nil
}

// start positions the reader: from the checkpoint, or from the slot's
// position with every captured table queued for a snapshot.
func (r *reader) start(ctx context.Context, slot *slotInfo, infos []*tableInfo) error {
	history, err := r.sink.Schemas(ctx)
	if err != nil {
		return err
	}
	r.reg.restore(history, r.cp.Tables)
	var resynced map[schema.TableID]*schema.Table
	if r.s.cfg.ResetPosition && r.cp.LSN != 0 {
		if resynced, err = r.reset(ctx, slot.confirmed); err != nil {
			return err
		}
	}
	switch {
	case r.cp.LSN == 0:
		r.cp.Slot, r.cp.LSN = r.s.cfg.Slot, slot.confirmed
		r.s.log.Info("new reader: starting at the slot's position", "slot", r.s.cfg.Slot, "lsn", slot.confirmed, "tables", len(infos))
	case slot.created || slot.confirmed > r.cp.LSN:
		return fatal(fmt.Errorf("%w: the checkpoint is at %s but replication slot %s starts at %s (it was dropped and created again, or advanced by someone else), so the changes between are gone; fix: restart the reader with --reset-position to snapshot every table again",
			ErrPositionLost, r.cp.LSN, r.s.cfg.Slot, slot.confirmed))
	}
	for _, t := range infos {
		if _, ok := r.cp.Tables[t.id.String()]; ok {
			continue
		}
		// A new reader, or a table captured since the last run: rows it
		// had before it was published never reach the stream.
		if err := r.addTable(ctx, t); err != nil {
			return err
		}
	}
	for id, old := range resynced {
		if st := r.cp.Tables[id.String()]; st != nil {
			st.Resync = true
			continue
		}
		// No longer captured (dropped while the reader was away): the end
		// marker right away removes the rows the lake still holds.
		if err := r.sink.Add(ctx, r.marker(old, schema.OpResyncEnd, slot.confirmed)); err != nil {
			return err
		}
	}
	r.pos = r.cp.LSN
	for _, id := range r.s.cfg.Resnapshot {
		if err := r.resnapshot(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// addTable publishes the first schema version of a table from the catalog
// and queues its snapshot.
func (r *reader) addTable(ctx context.Context, t *tableInfo) error {
	sch, _, prob, err := r.reg.build(ctx, r.q, t.id, t.published(), nil)
	if err != nil {
		return err
	}
	if sch == nil || prob != nil {
		return nil
	}
	tbl := r.reg.get(t.id)
	if err := r.adopted(ctx, t.id, r.reg.adopt(tbl, sch)); err != nil {
		return err
	}
	st := r.cp.Tables[t.id.String()]
	if st == nil {
		st = &tableState{Version: tbl.sch.Version}
		r.cp.Tables[t.id.String()] = st
	}
	st.Snapshot = snapPending
	if r.s.cfg.NoSnapshot {
		st.Snapshot = snapDone
	}
	r.dirty = true
	return nil
}

// loop is the event loop: replication messages, snapshot chunks and the
// commit timer, all handled on this goroutine.
func (r *reader) loop(ctx context.Context, started *bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if err := r.startReplication(ctx); err != nil {
		return err
	}
	*started = true
	r.s.cfg.Metrics.Streaming()
	msgs := make(chan []wire, 8)
	received := make(chan struct{})
	go func() {
		defer close(received)
		r.receive(ctx, msgs)
	}()
	defer func() {
		// The receiver reads without a context (watching one costs two
		// channel operations per message); closing the socket ends it.
		_ = r.repl.Conn().Close()
		<-received
	}()
	r.snap = newSnapshotter(r)
	r.snap.start(ctx)
	defer r.snap.stop()
	go r.s.heartbeat(ctx)
	tick := time.NewTicker(r.s.cfg.CommitInterval)
	defer tick.Stop()
	r.snap.schedule()
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-msgs:
			if err := r.onWire(ctx, b); err != nil {
				return err
			}
		case res := <-r.snap.results:
			if err := r.snap.arrived(ctx, res); err != nil {
				return err
			}
		case id := <-r.s.resnap:
			if err := r.resnapshot(ctx, id); err != nil {
				return err
			}
		case <-tick.C:
			if err := r.idle(ctx); err != nil {
				return err
			}
		}
	}
}

// onWire handles a batch of messages, then gives the batch back to the
// receiver.
func (r *reader) onWire(ctx context.Context, batch []wire) error {
	size := 0
	for i := range batch {
		m := &batch[i]
		if m.err != nil {
			return r.streamError(m.err)
		}
		if err := r.handle(ctx, m); err != nil {
			return err
		}
		size += len(m.data)
	}
	r.inflight.Add(-int64(size))
	clear(batch)
	select {
	case r.free <- batch[:0]:
	default:
	}
	return nil
}

// startReplication starts streaming at the checkpoint's position. A slot
// still held by a reader that died (its walsender not yet gone) is taken
// over: the newest reader wins, as it does in Kafka.
func (r *reader) startReplication(ctx context.Context) error {
	args := []string{
		"proto_version '2'",
		"publication_names " + quoteLiteral(quoteIdent(r.s.cfg.Publication)),
		"messages 'true'",
		"streaming 'on'",
	}
	for attempt := 0; ; attempt++ {
		err := pglogrepl.StartReplication(ctx, r.repl, quoteIdent(r.s.cfg.Slot), pglogrepl.LSN(r.pos),
			pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication, PluginArgs: args})
		if err == nil {
			r.s.log.Info("streaming", "slot", r.s.cfg.Slot, "from", r.pos)
			return nil
		}
		if pgCode(err) != codeObjectInUse || attempt >= 20 {
			return fmt.Errorf("start replication on slot %s at %s: %w", r.s.cfg.Slot, r.pos, err)
		}
		if err := r.takeOverSlot(ctx); err != nil {
			return err
		}
	}
}

// takeOverSlot ends the server process that holds the slot, which is the
// walsender of an older reader of the same source.
func (r *reader) takeOverSlot(ctx context.Context) error {
	var pid *int32
	err := r.q.QueryRow(ctx, `SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, r.s.cfg.Slot).Scan(&pid)
	if err != nil {
		return fmt.Errorf("read slot %s: %w", r.s.cfg.Slot, err)
	}
	if pid != nil {
		r.s.log.Warn("replication slot is held by another process, an older reader of this source; ending it", "slot", r.s.cfg.Slot, "pid", *pid)
		if _, err := r.q.Exec(ctx, `SELECT pg_terminate_backend($1)`, *pid); err != nil {
			return fmt.Errorf("replication slot %s is in use by process %d and the reader could not end it: %w", r.s.cfg.Slot, *pid, err)
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(250 * time.Millisecond):
	}
	return nil
}

// receive reads the replication connection and hands its messages to
// the loop in batches, so that receiving goes on while the loop commits to
// Kafka. A batch goes when it is full, or before a read that may wait for
// the network, so that batching never holds a message back. It ends when
// the connection fails or is closed, or ctx ends.
func (r *reader) receive(ctx context.Context, out chan<- []wire) {
	var (
		batch   []wire
		size    int64 // bytes of data in batch
		slab    slab
		stopped bool
	)
	// send hands the batch over, waiting first while the loop has more
	// than maxInflight bytes to handle.
	send := func() {
		if len(batch) == 0 || stopped {
			return
		}
		for r.inflight.Load() > maxInflight && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		r.inflight.Add(size)
		select {
		case out <- batch:
		case <-ctx.Done():
			stopped = true
			return
		}
		select {
		case batch = <-r.free:
		default:
			batch = make([]wire, 0, wireBatch)
		}
		size = 0
	}
	r.replIn.setIdle(send)
	defer r.replIn.setIdle(nil)
	for !stopped {
		msg, err := r.repl.ReceiveMessage(context.Background())
		if err != nil {
			batch = append(batch, wire{err: err})
			send()
			return
		}
		var w wire
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			switch m.Data[0] {
			case pglogrepl.XLogDataByteID:
				x, err := pglogrepl.ParseXLogData(m.Data[1:])
				if err != nil {
					w.err = fmt.Errorf("parse XLogData: %w", err)
					break
				}
				pass, sp, err := r.spillStreamed(x.WALData)
				if err != nil {
					w.err = err
					break
				}
				if !pass {
					continue
				}
				w.start, w.data, w.spill = lsn(x.WALStart), slab.copy(x.WALData), sp
			case pglogrepl.PrimaryKeepaliveMessageByteID:
				k, err := pglogrepl.ParsePrimaryKeepaliveMessage(m.Data[1:])
				if err != nil {
					w.err = fmt.Errorf("parse keepalive: %w", err)
				}
				w.keepalive, w.walEnd, w.reply, w.sent = true, lsn(k.ServerWALEnd), k.ReplyRequested, k.ServerTime
			default:
				continue
			}
		case *pgproto3.ErrorResponse:
			w.err = pgconn.ErrorResponseToPgError(m)
		case *pgproto3.CopyDone:
			w.err = errors.New("the server ended replication")
		default:
			continue
		}
		batch = append(batch, w)
		size += int64(len(w.data))
		if w.err != nil {
			send()
			return
		}
		if len(batch) >= wireBatch || size >= wireBatchBytes || w.keepalive && w.reply {
			send()
		}
	}
}

func (r *reader) streamError(err error) error {
	if pgCode(err) == codeObjectNotInState || pgCode(err) == codeUndefinedObject {
		return fatal(fmt.Errorf("%w: replication slot %s: %w; fix: SELECT pg_drop_replication_slot(%s); then restart the reader with --reset-position",
			ErrPositionLost, r.s.cfg.Slot, err, quoteLiteral(r.s.cfg.Slot)))
	}
	return fmt.Errorf("postgres replication stream: %w", err)
}

// spillStreamed runs on the receiver: a message inside a stream segment
// goes to its transaction's spill file, and a stream abort cuts the file,
// so that neither reaches the loop. The other messages pass, a stream
// commit with its transaction's file.
func (r *reader) spillStreamed(data []byte) (pass bool, sp *spill, err error) {
	if len(data) == 0 {
		return true, nil, nil
	}
	switch data[0] {
	case 'S', 'E', 'c', 'A':
	default:
		if !r.rx.inStream {
			return true, nil, nil
		}
		sub, err := streamXid(data)
		if err != nil {
			return false, nil, fmt.Errorf("pgoutput: %w", err)
		}
		return false, nil, r.spills.add(r.rx.xid, sub, data)
	}
	m, err := pglogrepl.ParseV2(data, r.rx.inStream)
	if err != nil {
		return false, nil, fmt.Errorf("pgoutput stream: %w", err)
	}
	switch m := m.(type) {
	case *pglogrepl.StreamStartMessageV2:
		r.rx.inStream, r.rx.xid = true, m.Xid
		if m.FirstSegment == 1 {
			r.spills.reset(m.Xid) // streamed again after a reconnect
		}
	case *pglogrepl.StreamStopMessageV2:
		r.rx.inStream = false
	case *pglogrepl.StreamAbortMessageV2:
		return false, nil, r.spills.abort(m.Xid, m.SubXid)
	case *pglogrepl.StreamCommitMessageV2:
		sp, err = r.spills.detach(m.Xid)
		return err == nil, sp, err
	}
	return true, nil, nil
}

// handle dispatches one replication message.
func (r *reader) handle(ctx context.Context, m *wire) error {
	if m.keepalive {
		return r.keepalive(ctx, m)
	}
	data := m.data
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case 'B':
		var b pglogrepl.BeginMessage
		if err := b.Decode(data[1:]); err != nil {
			return fmt.Errorf("pgoutput begin: %w", err)
		}
		return r.beginTx(b.Xid, lsn(b.FinalLSN), b.CommitTime)
	case 'C':
		var c pglogrepl.CommitMessage
		if err := c.Decode(data[1:]); err != nil {
			return fmt.Errorf("pgoutput commit: %w", err)
		}
		return r.endTx(ctx, lsn(c.CommitLSN), lsn(c.TransactionEndLSN))
	case 'S', 'E', 'c', 'A':
		return r.streamControl(ctx, m)
	}
	return r.message(ctx, data, false)
}

// message handles the messages that appear in transactions, live or
// replayed from a spill file (streamed).
func (r *reader) message(ctx context.Context, data []byte, streamed bool) error {
	switch data[0] {
	case 'R':
		m, err := pglogrepl.ParseV2(data, streamed)
		if err != nil {
			return fmt.Errorf("pgoutput relation: %w", err)
		}
		r.reg.describe(&m.(*pglogrepl.RelationMessageV2).RelationMessage)
		return nil
	case 'I', 'U', 'D', 'T':
		if !r.tx.open {
			return fmt.Errorf("pgoutput: row message %q outside a transaction", data[0])
		}
		if r.tx.skipAll {
			return nil
		}
		if data[0] == 'T' {
			return r.truncate(ctx, data, streamed)
		}
		return r.rowChange(ctx, data, streamed)
	case 'M':
		m, err := pglogrepl.ParseV2(data, streamed)
		if err != nil {
			return fmt.Errorf("pgoutput message: %w", err)
		}
		return r.logicalMessage(ctx, &m.(*pglogrepl.LogicalDecodingMessageV2).LogicalDecodingMessage)
	}
	return nil // Type and Origin messages
}

// streamControl handles the messages that frame a streamed transaction;
// the receiver has spilled the messages inside the segments.
func (r *reader) streamControl(ctx context.Context, w *wire) error {
	defer w.spill.close()
	m, err := pglogrepl.ParseV2(w.data, r.inStream)
	if err != nil {
		return fmt.Errorf("pgoutput stream: %w", err)
	}
	switch m := m.(type) {
	case *pglogrepl.StreamStartMessageV2:
		r.inStream = true
		if m.FirstSegment == 1 {
			r.s.stats.spilled.Add(1)
		}
	case *pglogrepl.StreamStopMessageV2:
		r.inStream = false
	case *pglogrepl.StreamCommitMessageV2:
		if err := r.beginTx(m.Xid, lsn(m.CommitLSN), m.CommitTime); err != nil {
			return err
		}
		if w.spill != nil {
			if err := w.spill.replay(&r.replayBuf, func(msg []byte) error { return r.message(ctx, msg, true) }); err != nil {
				return err
			}
		}
		return r.endTx(ctx, lsn(m.CommitLSN), lsn(m.TransactionEndLSN))
	}
	return nil
}

// beginTx opens a source transaction, deciding what of it a previous run
// already published.
func (r *reader) beginTx(xid uint32, commitLSN lsn, at time.Time) error {
	r.tx = txState{open: true, xid: xid, txid: strconv.FormatUint(uint64(xid), 10), commitLSN: commitLSN, commitTime: at}
	switch p := r.cp.Partial; {
	case r.cp.CommitLSN != 0 && commitLSN <= r.cp.CommitLSN:
		r.tx.skipAll = true
	case p != nil && commitLSN == p.CommitLSN:
		r.tx.skip = p.Rows
	case p != nil && commitLSN > p.CommitLSN:
		return fmt.Errorf("the server did not send again the transaction committed at %s that the checkpoint holds in part", p.CommitLSN)
	}
	return nil
}

// endTx closes the open transaction: the position moves past it, waiting
// snapshot chunks go out, and a commit happens when the batch is full or
// old enough.
func (r *reader) endTx(ctx context.Context, commitLSN, end lsn) error {
	tx := r.tx
	r.tx.open = false
	r.pos = max(r.pos, end)
	if !tx.skipAll {
		r.cp.CommitLSN, r.cp.Partial, r.cp.SourceTime = commitLSN, nil, tx.commitTime
		if tx.rows > 0 {
			r.dirty = true
			r.s.cfg.Metrics.Transaction(tx.rows)
		}
		r.s.cfg.Metrics.SourceTime(tx.commitTime)
	}
	if err := r.snap.emitReady(ctx); err != nil {
		return err
	}
	if r.staged >= r.s.cfg.MaxBatch || r.staged > 0 && time.Since(r.stagedAt) >= r.s.cfg.CommitInterval {
		if err := r.commit(ctx); err != nil {
			return err
		}
	}
	r.snap.schedule()
	return nil
}

// keepalive moves the position to the server's when no transaction is
// open (everything that committed before it has been received), and
// answers a request for a reply.
func (r *reader) keepalive(ctx context.Context, m *wire) error {
	if !r.tx.open && !r.inStream {
		r.pos = max(r.pos, m.walEnd)
		// Everything the server sent before the keepalive is handled.
		r.s.cfg.Metrics.CaughtUp(m.sent)
	}
	if m.reply {
		return r.sendStatus(ctx)
	}
	return nil
}

// logicalMessage handles pg_logical_emit_message messages: the reader's
// own heartbeats and snapshot watermarks; others are ignored.
func (r *reader) logicalMessage(ctx context.Context, m *pglogrepl.LogicalDecodingMessage) error {
	switch {
	case m.Prefix == r.s.heartbeatPrefix() && !m.Transactional:
		if !r.tx.open && !r.inStream {
			r.pos = max(r.pos, lsn(m.LSN))
			// The heartbeat carries the time it was written: everything
			// before it is handled.
			if at, err := time.Parse(time.RFC3339Nano, string(m.Content)); err == nil {
				r.s.cfg.Metrics.CaughtUp(at)
			}
		}
	case m.Prefix == r.s.watermarkPrefix() && m.Transactional && r.tx.open && !r.tx.skipAll:
		return r.snap.watermark(ctx, m.Content)
	}
	return nil
}

// idle runs on the commit timer: it commits what waits at a transaction
// boundary, commits an idle reader's position every heartbeat, and keeps
// the server informed.
func (r *reader) idle(ctx context.Context) error {
	if !r.tx.open {
		if err := r.snap.emitReady(ctx); err != nil {
			return err
		}
		if r.staged > 0 || r.dirty || r.trail && r.pos > r.acked || time.Since(r.committed) >= r.s.cfg.HeartbeatInterval {
			if err := r.commit(ctx); err != nil {
				return err
			}
		}
		r.snap.schedule()
	}
	r.snap.progress()
	r.reportSnapshots()
	if time.Since(r.statusAt) >= min(r.s.cfg.HeartbeatInterval, 10*time.Second) {
		return r.sendStatus(ctx)
	}
	return nil
}

// commit writes the checkpoint with everything staged, then confirms its
// position to the slot. Inside a source transaction (a large one split
// across Kafka transactions) the checkpoint keeps the position before it
// and counts the row changes already published.
func (r *reader) commit(ctx context.Context) error {
	if err := r.endResyncs(ctx); err != nil {
		return err
	}
	r.cp.Slot, r.cp.LSN, r.cp.Partial = r.s.cfg.Slot, r.pos, nil
	if r.tx.open && !r.tx.skipAll {
		r.cp.Partial = &partial{CommitLSN: r.tx.commitLSN, Rows: r.tx.rows}
	}
	r.cp.Heartbeat = time.Now().UTC()
	b, err := json.Marshal(r.cp)
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	if err := r.sink.Commit(ctx, b); err != nil {
		return err
	}
	r.trail = r.staged > 0 || r.dirty
	r.staged, r.dirty, r.committed = 0, false, time.Now()
	r.acked = r.cp.LSN
	r.s.stats.confirmed.Store(int64(r.acked))
	return r.sendStatus(ctx)
}

// sendStatus confirms the committed position to the server. Only a
// position whose changes are committed to Kafka is ever confirmed.
func (r *reader) sendStatus(ctx context.Context) error {
	r.statusAt = time.Now()
	if r.acked == 0 {
		return nil
	}
	p := pglogrepl.LSN(r.acked)
	err := pglogrepl.SendStandbyStatusUpdate(ctx, r.repl, pglogrepl.StandbyStatusUpdate{WALWritePosition: p, WALFlushPosition: p, WALApplyPosition: p})
	if err != nil {
		return fmt.Errorf("postgres standby status: %w", err)
	}
	return nil
}

// stage hands one event to the sink.
func (r *reader) stage(ctx context.Context, e *schema.Event) error {
	if r.staged == 0 {
		r.stagedAt = time.Now()
	}
	r.staged++
	r.s.stats.events.Add(1)
	return r.sink.Add(ctx, e)
}
