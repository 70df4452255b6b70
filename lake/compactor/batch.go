package compactor

import (
	"fmt"
	"slices"
	"time"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// accumulator coalesces the changes of one table between two commits: the
// last change per key wins.
type accumulator struct {
	table *schema.Table // the schema version of every pending row
	// chunks hold one change per key, in the order keys first came, in
	// chunks that never move (a growing slice would copy them all); at
	// maps each key to its change's number.
	chunks   [][]lake.Change
	n        int
	at       map[string]int
	truncate bool
	// resync is a resync marker to commit on its own (worker.passBarrier).
	resync  lake.Resync
	records int       // records folded in
	first   time.Time // when the first record was folded in
	// replaced maps a delete's source position to the pending row it
	// replaced, for the create half of a key change whose TOAST columns
	// are unchanged (the delete and the create share the position).
	replaced map[string]lake.Change
	// size is the number of keys of the last batch, to size the next.
	size int
}

const (
	minChunk = 1 << 10
	maxChunk = 1 << 20
)

// keepKeys is how many keys a batch may have had for the next batch to
// reuse its key map (cleared) rather than build one again.
const keepKeys = 1 << 17

func (a *accumulator) reset() {
	a.size = a.n
	at := a.at
	if len(at) <= keepKeys {
		clear(at) // keeps the map's buckets for the next batch
	} else {
		at = nil
	}
	a.chunks, a.n, a.at, a.truncate, a.records, a.first, a.replaced = nil, 0, at, false, 0, time.Time{}, nil
	a.resync = lake.ResyncNone
}

func (a *accumulator) empty() bool { return a.n == 0 && !a.truncate && a.resync == lake.ResyncNone }

func (a *accumulator) touch() {
	if a.records == 0 {
		a.first = time.Now()
	}
	a.records++
}

// clear drops every pending change for a truncate.
func (a *accumulator) clear() {
	a.touch()
	a.chunks, a.n, a.at = nil, 0, nil
	a.truncate = true
}

// change returns change number i.
func (a *accumulator) change(i int) *lake.Change {
	for _, c := range a.chunks {
		if i < len(c) {
			return &c[i]
		}
		i -= len(c)
	}
	panic("accumulator: no change " + fmt.Sprint(i))
}

// set makes ch the pending change of its key.
func (a *accumulator) set(ch lake.Change) {
	if i, ok := a.at[ch.Key]; ok {
		*a.change(i) = ch
		return
	}
	if a.at == nil {
		a.at = make(map[string]int, min(a.size, maxChunk))
	}
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last]) == cap(a.chunks[last]) {
		// The first chunk holds as many keys as the last batch had; each
		// next one as many as those before it.
		size := min(max(a.size, a.n, minChunk), maxChunk)
		a.chunks = append(a.chunks, make([]lake.Change, 0, size))
		last++
	}
	a.at[ch.Key] = a.n
	a.chunks[last] = append(a.chunks[last], ch)
	a.n++
}

// pending returns the pending change of a key, or nil.
func (a *accumulator) pending(key string) *lake.Change {
	if i, ok := a.at[key]; ok {
		return a.change(i)
	}
	return nil
}

// add folds one decoded change in. t is the schema version the envelope
// was decoded with; it must be a.table (callers flush on a new version).
func (a *accumulator) add(env *schema.Envelope, t *schema.Table, meta lake.RowMeta) error {
	a.touch()
	a.table = t
	switch env.Op {
	case schema.OpDelete:
		key, err := lake.KeyOf(t, env.Before)
		if err != nil {
			return err
		}
		if prev := a.pending(key); prev != nil && !prev.Delete && meta.Position != "" {
			if a.replaced == nil {
				a.replaced = map[string]lake.Change{}
			}
			a.replaced[meta.Position] = *prev
		}
		a.set(lake.Change{Key: key, Delete: true, Meta: meta})
		return nil
	case schema.OpCreate, schema.OpRead, schema.OpUpdate:
	default:
		return fmt.Errorf("unknown op %q", env.Op)
	}
	if env.After == nil {
		return fmt.Errorf("op %s has no after image", env.Op)
	}
	key, err := lake.KeyOf(t, env.After)
	if err != nil {
		return err
	}
	if env.Op == schema.OpUpdate && env.Before != nil {
		// A key change inside one update: the old key goes away.
		if old, err := lake.KeyOf(t, env.Before); err == nil && old != key {
			a.set(lake.Change{Key: old, Delete: true, Meta: meta})
		}
	}
	ch := lake.Change{Key: key, Row: env.After, Meta: meta}
	if len(env.Unchanged) > 0 {
		ch.Unchanged = make([]bool, len(t.Columns))
		for _, name := range env.Unchanged {
			if i := t.Index(name); i >= 0 {
				ch.Unchanged[i] = true
			}
		}
		// A pending row of this batch has the newest values; the lake
		// row fills the rest when the batch is applied.
		if prev := a.pending(key); prev != nil && !prev.Delete {
			fillFrom(&ch, prev)
		}
		a.fillReplaced(&ch)
	}
	a.set(ch)
	return nil
}

// fillFrom copies into ch's unchanged columns the values prev has.
func fillFrom(ch, prev *lake.Change) {
	for i, u := range ch.Unchanged {
		if u && (prev.Unchanged == nil || !prev.Unchanged[i]) {
			ch.Row[i], ch.Unchanged[i] = prev.Row[i], false
		}
	}
	if !slices.Contains(ch.Unchanged, true) {
		ch.Unchanged = nil
	}
}

// fillReplaced fills a create's unchanged columns from the pending row
// the delete at the same source position replaced, if any.
func (a *accumulator) fillReplaced(ch *lake.Change) {
	if ch.Unchanged == nil || ch.Meta.Op != schema.OpCreate {
		return
	}
	if prev, ok := a.replaced[ch.Meta.Position]; ok {
		fillFrom(ch, &prev)
	}
}

// batch returns the pending changes as a lake batch.
func (a *accumulator) batch(cp lake.Checkpoint) *lake.Batch {
	var changes []lake.Change
	switch len(a.chunks) {
	case 0:
	case 1:
		changes = a.chunks[0]
	default:
		changes = make([]lake.Change, 0, a.n)
		for _, c := range a.chunks {
			changes = append(changes, c...)
		}
	}
	if a.replaced != nil {
		for i := range changes {
			a.fillReplaced(&changes[i]) // the delete may have come after the create
		}
	}
	return &lake.Batch{Table: a.table, Truncate: a.truncate, Resync: a.resync, Checkpoint: cp, Changes: changes}
}
