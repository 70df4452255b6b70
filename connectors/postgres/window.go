package postgres

import (
	"slices"

	"github.com/tributary-dev/tributary/schema"
)

// window is the stream's view of one snapshot chunk: every key of the
// table the stream changed between the chunk's watermarks, with what the
// stream said of the row.
type window struct {
	id      string
	run     *tableRun
	keys    map[string]*keyState
	closed  bool // the high watermark was seen
	invalid bool // a truncate inside: read the chunk again
	result  *chunkResult
}

// keyState is what a window learned from the stream about one key.
type keyState struct {
	// gone is set when the row was deleted, or moved to another key.
	gone bool
	// vals holds the latest value the stream gave of each column, by name;
	// full is set when it holds every column. An update that leaves TOAST
	// values unchanged does not send them, so its row can be partial.
	vals map[string]any
	full bool
	// from is the key a partial row moved from (a key change that left
	// TOAST values unchanged).
	from string
}

func imageKey(t *schema.Table, img []any) string {
	k, err := schema.AppendKey(nil, &schema.Event{Table: t, After: img})
	if err != nil {
		return ""
	}
	return string(k)
}

// touch records a change the stream published inside the window. moved
// is the key the row change deleted before this event (a key change), or
// "". It returns the key of a delete, for the create that follows it.
func (w *window) touch(e *schema.Event, moved string) string {
	switch e.Op {
	case schema.OpDelete:
		k := imageKey(e.Table, e.Before)
		w.keys[k] = &keyState{gone: true}
		return k
	case schema.OpCreate, schema.OpUpdate:
		k := imageKey(e.Table, e.After)
		st := w.keys[k]
		if st == nil || st.gone || e.Op == schema.OpCreate {
			st = &keyState{vals: map[string]any{}}
			w.keys[k] = st
			if e.Unchanged != nil {
				st.from = moved
			}
		}
		for i, c := range e.Table.Columns {
			if e.Unchanged == nil || !e.Unchanged[i] {
				st.vals[c.Name] = e.After[i]
			}
		}
		st.full = st.full || e.Unchanged == nil
	}
	return ""
}

// reads returns the rows to publish for the window's chunk, in key order.
// A row the stream deleted or wrote in full inside the window is left
// out: the stream's events carry its newer state. A row the stream wrote
// only in part (TOAST values unchanged) goes out with the stream's values
// over the chunk's: the columns the stream did not send did not change
// inside the window, so the chunk's values are current. So does a row
// that moved to a new key outside the chunk, from its old row in it.
func (w *window) reads() [][]any {
	res := w.result
	if len(w.keys) == 0 {
		return res.rows
	}
	at := make(map[string]int, len(res.rows))
	for i, row := range res.rows {
		at[imageKey(res.sch, row)] = i
	}
	out := make([][]any, 0, len(res.rows))
	for _, row := range res.rows {
		switch st := w.keys[imageKey(res.sch, row)]; {
		case st == nil:
			out = append(out, row)
		case st.gone || st.full:
		default:
			out = append(out, compose(row, res.sch, st))
		}
	}
	moved := make([]string, 0)
	for k, st := range w.keys {
		if _, in := at[k]; !in && !st.gone && !st.full && st.from != "" {
			if _, ok := at[st.from]; ok {
				moved = append(moved, k)
			}
		}
	}
	slices.Sort(moved)
	for _, k := range moved {
		st := w.keys[k]
		out = append(out, compose(res.rows[at[st.from]], res.sch, st))
	}
	return out
}

// compose overlays the stream's values on a chunk row.
func compose(row []any, sch *schema.Table, st *keyState) []any {
	out := slices.Clone(row)
	for i, c := range sch.Columns {
		if v, ok := st.vals[c.Name]; ok {
			out[i] = v
		}
	}
	return out
}
