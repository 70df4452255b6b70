package compactor

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/tributary-dev/tributary/internal/box"
	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// accumulator coalesces the changes of one table between two commits: the
// last change per key wins.
type accumulator struct {
	table *schema.Table // the schema version of every pending row
	// chunks hold one change per key, in the order keys first came, in
	// chunks that never move (a growing slice would copy them all); at
	// maps each key's hash to its change's number. The chunks are reused
	// by the next batch once a batch is committed.
	chunks   [][]lake.Change
	n        int
	at       keyIndex
	keyBuf   []byte    // the key being encoded
	keys     box.Boxer // the keys' text, a slab at a time
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
	a.at.reset(2 * keepKeys) // keeps the slots of up to keepKeys keys for the next batch
	if len(a.chunks) == 1 {
		// A batch that fit one chunk leaves it to the next batch of any
		// table (several chunks are dropped: the next batch's first
		// chunk holds them all).
		c := a.chunks[0]
		clear(c) // its rows are no longer referenced
		c = c[:0]
		chunkPool.Put(&c)
	}
	a.chunks, a.n, a.truncate, a.records, a.first, a.replaced = nil, 0, false, 0, time.Time{}, nil
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
	a.chunks, a.n = nil, 0
	a.at.reset(2 * keepKeys)
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

// set makes ch the pending change of its key: it replaces prev, the key's
// pending change (from key), or is added when prev is nil.
func (a *accumulator) set(ch lake.Change, prev *lake.Change) {
	if prev != nil {
		*prev = ch
		return
	}
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last]) == cap(a.chunks[last]) {
		// The first chunk holds as many keys as the last batch had; each
		// next one as many as those before it.
		a.chunks = append(a.chunks, newChunk(min(max(a.size, a.n, minChunk), maxChunk)))
		last++
	}
	a.at.put(ch.Hash, a.n, min(a.size, maxChunk))
	a.chunks[last] = append(a.chunks[last], ch)
	a.n++
}

// chunkPool holds emptied chunks of committed batches (*[]lake.Change).
// Unused, they are freed by the garbage collector's second cycle.
var chunkPool sync.Pool

// newChunk returns an empty chunk with room for size changes, or about.
func newChunk(size int) []lake.Change {
	if c, ok := chunkPool.Get().(*[]lake.Change); ok && cap(*c) >= size && cap(*c) <= 2*size {
		return *c
	}
	return make([]lake.Change, 0, size)
}

// pending returns the pending change of a key, or nil.
func (a *accumulator) pending(h lake.KeyHash) *lake.Change {
	if i, ok := a.at.get(h); ok {
		return a.change(i)
	}
	return nil
}

// key returns the key of a row, its hash, and its pending change (nil when
// it has none, then the key string is made; a pending change's is reused).
// The pending change stays where it is until the batch is committed.
func (a *accumulator) key(t *schema.Table, img []any) (string, lake.KeyHash, *lake.Change, error) {
	var err error
	if a.keyBuf, err = lake.AppendKey(a.keyBuf[:0], t, img); err != nil {
		return "", lake.KeyHash{}, nil, err
	}
	h := lake.HashKeyBytes(a.keyBuf)
	if prev := a.pending(h); prev != nil {
		return prev.Key, h, prev, nil
	}
	return a.keys.String(a.keyBuf), h, nil, nil
}

// add folds one decoded change in. t is the schema version the envelope
// was decoded with; it must be a.table (callers flush on a new version).
func (a *accumulator) add(env *schema.Envelope, t *schema.Table, meta lake.RowMeta) error {
	a.touch()
	a.table = t
	switch env.Op {
	case schema.OpDelete:
		key, h, prev, err := a.key(t, env.Before)
		if err != nil {
			return err
		}
		if prev != nil && !prev.Delete && meta.Position != "" {
			if a.replaced == nil {
				a.replaced = map[string]lake.Change{}
			}
			a.replaced[meta.Position] = *prev
		}
		a.set(lake.Change{Key: key, Hash: h, Delete: true, Meta: meta}, prev)
		return nil
	case schema.OpCreate, schema.OpRead, schema.OpUpdate:
	default:
		return fmt.Errorf("unknown op %q", env.Op)
	}
	if env.After == nil {
		return fmt.Errorf("op %s has no after image", env.Op)
	}
	key, h, prev, err := a.key(t, env.After)
	if err != nil {
		return err
	}
	if env.Op == schema.OpUpdate && env.Before != nil {
		// A key change inside one update: the old key goes away.
		if old, oh, oldPrev, err := a.key(t, env.Before); err == nil && oh != h {
			a.set(lake.Change{Key: old, Hash: oh, Delete: true, Meta: meta}, oldPrev)
		}
	}
	ch := lake.Change{Key: key, Hash: h, Row: env.After, Meta: meta}
	if len(env.Unchanged) > 0 {
		ch.Unchanged = make([]bool, len(t.Columns))
		for _, name := range env.Unchanged {
			if i := t.Index(name); i >= 0 {
				ch.Unchanged[i] = true
			}
		}
		// A pending row of this batch has the newest values; the lake
		// row fills the rest when the batch is applied.
		if prev != nil && !prev.Delete {
			fillFrom(&ch, prev)
		}
		a.fillReplaced(&ch)
	}
	a.set(ch, prev)
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
	switch {
	case a.n == 0:
	case len(a.chunks[0]) == a.n:
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
