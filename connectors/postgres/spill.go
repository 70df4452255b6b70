package postgres

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
)

// A large transaction that the server streams before it commits (pgoutput
// protocol 2, streaming on) may still abort, so its messages cannot go to
// Kafka yet. They go to a temporary file instead, one per transaction, and
// are replayed in order when the transaction commits; an abort deletes the
// file, and a subtransaction's abort cuts the file back to where that
// subtransaction's first message starts (everything after it belongs to
// the subtransaction or to its children, which aborted with it). Memory
// stays bounded by the write buffer, whatever the transaction's size.
//
// The receiving goroutine owns the set: it writes the files as messages
// arrive, also while the loop replays an earlier transaction, and hands a
// committed transaction's file to the loop with its commit message.

// spillBuffer is the size of a spill file's write and read buffers.
const spillBuffer = 64 << 10

// spill is the file of one streamed transaction.
type spill struct {
	f    *os.File
	w    *bufio.Writer
	size int64 // bytes written, buffered or not
	// subs maps a subtransaction to the offset of its first message.
	subs map[uint32]int64
	msgs int
}

// spillSet holds the files of the transactions being streamed.
type spillSet struct {
	dir   string
	files map[uint32]*spill
	buf   []byte
}

func newSpillSet(dir string) *spillSet {
	return &spillSet{dir: dir, files: map[uint32]*spill{}}
}

// add appends a message of transaction xid, sent by its (sub)transaction
// sub.
func (ss *spillSet) add(xid, sub uint32, msg []byte) error {
	sp := ss.files[xid]
	if sp == nil {
		f, err := os.CreateTemp(ss.dir, "tributary-pg-spill-*")
		if err != nil {
			return fmt.Errorf("spill streamed transaction %d: %w", xid, err)
		}
		// Unlinked at once: the space returns to the system when the file
		// closes, even after a crash.
		_ = os.Remove(f.Name())
		sp = &spill{f: f, w: bufio.NewWriterSize(f, spillBuffer), subs: map[uint32]int64{}}
		ss.files[xid] = sp
	}
	if sub != xid {
		if _, ok := sp.subs[sub]; !ok {
			sp.subs[sub] = sp.size
		}
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(msg)))
	if _, err := sp.w.Write(hdr[:n]); err != nil {
		return fmt.Errorf("spill streamed transaction %d: %w", xid, err)
	}
	if _, err := sp.w.Write(msg); err != nil {
		return fmt.Errorf("spill streamed transaction %d: %w", xid, err)
	}
	sp.size += int64(n + len(msg))
	sp.msgs++
	return nil
}

// reset forgets what was spilled for xid: the server streams it again
// from its first message (after a reconnect).
func (ss *spillSet) reset(xid uint32) { ss.drop(xid) }

// abort drops a subtransaction's messages, or the whole transaction's when
// sub is xid.
func (ss *spillSet) abort(xid, sub uint32) error {
	sp := ss.files[xid]
	if sp == nil {
		return nil
	}
	if sub == xid {
		ss.drop(xid)
		return nil
	}
	off, ok := sp.subs[sub]
	if !ok {
		return nil // it sent nothing
	}
	if err := sp.w.Flush(); err != nil {
		return fmt.Errorf("spill abort of %d: %w", sub, err)
	}
	if err := sp.f.Truncate(off); err != nil {
		return fmt.Errorf("spill abort of %d: %w", sub, err)
	}
	if _, err := sp.f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("spill abort of %d: %w", sub, err)
	}
	sp.size = off
	for s, o := range sp.subs {
		if o >= off {
			delete(sp.subs, s)
		}
	}
	return nil
}

func (ss *spillSet) drop(xid uint32) {
	if sp := ss.files[xid]; sp != nil {
		sp.close()
		delete(ss.files, xid)
	}
}

// detach takes the file of a committed transaction out of the set, for
// its replay, which may run on another goroutine. It returns nil when the
// transaction spilled nothing (it touched no published table).
func (ss *spillSet) detach(xid uint32) (*spill, error) {
	sp := ss.files[xid]
	if sp == nil {
		return nil, nil
	}
	delete(ss.files, xid)
	if err := sp.w.Flush(); err != nil {
		sp.close()
		return nil, fmt.Errorf("spill of %d: %w", xid, err)
	}
	return sp, nil
}

// replay calls fn with every message of a committed transaction, in order,
// then drops its file. The slice passed to fn is reused.
func (ss *spillSet) replay(xid uint32, fn func(msg []byte) error) error {
	sp, err := ss.detach(xid)
	if err != nil || sp == nil {
		return err
	}
	return sp.replay(&ss.buf, fn)
}

// replay calls fn with every message of a detached file, in order, then
// closes the file. *buf holds each message in turn; it is kept for the
// next replay unless a large message grew it.
func (sp *spill) replay(buf *[]byte, fn func(msg []byte) error) error {
	defer func() {
		sp.close()
		if cap(*buf) > 1<<20 {
			*buf = nil // a large value once: do not keep its buffer
		}
	}()
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("spill replay: %w", err)
	}
	rd := bufio.NewReaderSize(io.LimitReader(sp.f, sp.size), spillBuffer)
	for {
		n, err := binary.ReadUvarint(rd)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("spill replay: %w", err)
		}
		if cap(*buf) < int(n) {
			*buf = make([]byte, n)
		}
		msg := (*buf)[:n]
		if _, err := io.ReadFull(rd, msg); err != nil {
			return fmt.Errorf("spill replay: %w", err)
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
}

// close closes the file, which frees its space; it may be called again,
// and on nil.
func (sp *spill) close() {
	if sp != nil {
		sp.f.Close()
	}
}

// close drops every file.
func (ss *spillSet) close() {
	for xid := range ss.files {
		ss.drop(xid)
	}
}
