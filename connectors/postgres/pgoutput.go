package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// This file decodes pgoutput's row messages (Insert, Update, Delete) on the
// reader's hot path, without copying values: a tupleCol points into the
// message it came from. pglogrepl decodes the other messages.

// The kinds of a tuple column.
const (
	colNull      = 'n'
	colUnchanged = 'u' // a TOASTed value the update did not change; not sent
	colText      = 't'
	colBinary    = 'b'
)

type tupleCol struct {
	kind byte
	data []byte
}

// change is one decoded row message.
type change struct {
	op  byte // 'I', 'U' or 'D'
	rel uint32
	// oldKind says what old holds: 0 nothing, 'K' the replica identity
	// columns (others NULL), 'O' the whole old row (REPLICA IDENTITY FULL).
	oldKind byte
	old     []tupleCol
	new     []tupleCol
}

var errShort = errors.New("pgoutput message too short")

// parseChange decodes an Insert, Update or Delete message into c, reusing
// its slices. In a streamed transaction the message carries the xid of the
// (sub)transaction after its type byte.
func parseChange(b []byte, streamed bool, c *change) error {
	if len(b) == 0 {
		return errShort
	}
	c.op, c.oldKind = b[0], 0
	c.old, c.new = c.old[:0], c.new[:0]
	p := b[1:]
	if streamed {
		if len(p) < 4 {
			return errShort
		}
		p = p[4:]
	}
	if len(p) < 5 {
		return errShort
	}
	c.rel = binary.BigEndian.Uint32(p)
	p = p[4:]
	var err error
	switch c.op {
	case 'I':
		if p[0] != 'N' {
			return fmt.Errorf("insert: tuple type %q", p[0])
		}
		c.new, _, err = readTuple(p[1:], c.new)
	case 'U':
		if p[0] == 'K' || p[0] == 'O' {
			c.oldKind = p[0]
			if c.old, p, err = readTuple(p[1:], c.old); err != nil {
				return err
			}
			if len(p) == 0 {
				return errShort
			}
		}
		if p[0] != 'N' {
			return fmt.Errorf("update: tuple type %q", p[0])
		}
		c.new, _, err = readTuple(p[1:], c.new)
	case 'D':
		if p[0] != 'K' && p[0] != 'O' {
			return fmt.Errorf("delete: tuple type %q", p[0])
		}
		c.oldKind = p[0]
		c.old, _, err = readTuple(p[1:], c.old)
	default:
		return fmt.Errorf("not a row message: %q", c.op)
	}
	return err
}

// readTuple decodes TupleData: a column count, then per column a kind byte
// and, for text and binary values, a length and the bytes.
func readTuple(p []byte, cols []tupleCol) ([]tupleCol, []byte, error) {
	if len(p) < 2 {
		return cols, nil, errShort
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	for range n {
		if len(p) < 1 {
			return cols, nil, errShort
		}
		col := tupleCol{kind: p[0]}
		p = p[1:]
		switch col.kind {
		case colText, colBinary:
			if len(p) < 4 {
				return cols, nil, errShort
			}
			l := int(binary.BigEndian.Uint32(p))
			if len(p) < 4+l {
				return cols, nil, errShort
			}
			col.data = p[4 : 4+l]
			p = p[4+l:]
		case colNull, colUnchanged:
		default:
			return cols, nil, fmt.Errorf("tuple column kind %q", col.kind)
		}
		cols = append(cols, col)
	}
	return cols, p, nil
}

// streamXid returns the (sub)transaction xid of a message inside a stream
// segment; every such message carries it after its type byte.
func streamXid(b []byte) (uint32, error) {
	if len(b) < 5 {
		return 0, errShort
	}
	return binary.BigEndian.Uint32(b[1:]), nil
}
