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
	table    *schema.Table // the schema version of every pending row
	changes  map[string]*lake.Change
	truncate bool
	records  int       // records folded in
	first    time.Time // when the first record was folded in
	// replaced maps a delete's source position to the pending row it
	// replaced, for the create half of a key change whose TOAST columns
	// are unchanged (the delete and the create share the position).
	replaced map[string]*lake.Change
}

func (a *accumulator) reset() {
	a.changes, a.truncate, a.records, a.first, a.replaced = nil, false, 0, time.Time{}, nil
}

func (a *accumulator) empty() bool { return len(a.changes) == 0 && !a.truncate }

func (a *accumulator) touch() {
	if a.records == 0 {
		a.first = time.Now()
	}
	a.records++
}

// clear drops every pending change for a truncate.
func (a *accumulator) clear() {
	a.touch()
	a.changes = nil
	a.truncate = true
}

// add folds one decoded change in. t is the schema version the envelope
// was decoded with; it must be a.table (callers flush on a new version).
func (a *accumulator) add(env *schema.Envelope, t *schema.Table, meta lake.RowMeta) error {
	a.touch()
	a.table = t
	if a.changes == nil {
		a.changes = map[string]*lake.Change{}
	}
	switch env.Op {
	case schema.OpDelete:
		key, err := lake.KeyOf(t, env.Before)
		if err != nil {
			return err
		}
		if prev := a.changes[key]; prev != nil && !prev.Delete && meta.Position != "" {
			if a.replaced == nil {
				a.replaced = map[string]*lake.Change{}
			}
			a.replaced[meta.Position] = prev
		}
		a.changes[key] = &lake.Change{Key: key, Delete: true, Meta: meta}
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
			a.changes[old] = &lake.Change{Key: old, Delete: true, Meta: meta}
		}
	}
	ch := &lake.Change{Key: key, Row: env.After, Meta: meta}
	if len(env.Unchanged) > 0 {
		ch.Unchanged = make([]bool, len(t.Columns))
		for _, name := range env.Unchanged {
			if i := t.Index(name); i >= 0 {
				ch.Unchanged[i] = true
			}
		}
		// A pending row of this batch has the newest values; the lake
		// row fills the rest when the batch is applied.
		if prev := a.changes[key]; prev != nil && !prev.Delete {
			fillFrom(ch, prev)
		}
		a.fillReplaced(ch)
	}
	a.changes[key] = ch
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
	if prev := a.replaced[ch.Meta.Position]; prev != nil {
		fillFrom(ch, prev)
	}
}

// batch returns the pending changes as a lake batch.
func (a *accumulator) batch(cp lake.Checkpoint) *lake.Batch {
	b := &lake.Batch{Table: a.table, Truncate: a.truncate, Checkpoint: cp, Changes: make([]lake.Change, 0, len(a.changes))}
	for _, ch := range a.changes {
		a.fillReplaced(ch) // the delete may have come after the create
		b.Changes = append(b.Changes, *ch)
	}
	return b
}
