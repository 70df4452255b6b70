package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pglogrepl"

	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// table is what the reader knows about one captured table.
type table struct {
	id schema.TableID
	// sch is the current schema version, nil before the table is first
	// described.
	sch *schema.Table
	// skip is set for a table without a key when such tables are skipped.
	skip bool
	// m records the table's metrics; see (*reader).tableMetrics.
	m *metrics.ReaderTable
}

// relation is one relation the stream described, by OID. Its schema is
// resolved when the first change that needs it arrives, so that relation
// messages of transactions the reader skips publish nothing.
type relation struct {
	oid uint32
	id  schema.TableID
	msg *pglogrepl.RelationMessage
	// t is the captured table; nil when the relation is not captured.
	t *table
	// sch is the version the relation's changes decode with, and decs the
	// decoders of its columns; set by resolve.
	sch      *schema.Table
	decs     []decoder
	resolved bool
}

// registry tracks relations, tables and schema versions. It is used by
// the stream goroutine only.
type registry struct {
	s      *Source
	types  *typeCache
	tables map[schema.TableID]*table
	rels   map[uint32]*relation
	// versions holds the highest version ever published per table, so a
	// dropped and re-created table continues its numbering.
	versions map[schema.TableID]int
}

func newRegistry(s *Source, types *typeCache) *registry {
	return &registry{s: s, types: types, tables: map[schema.TableID]*table{}, rels: map[uint32]*relation{}, versions: map[schema.TableID]int{}}
}

// restore loads the committed schema history: the version each table had
// at the checkpoint becomes current.
func (r *registry) restore(history []*schema.Table, states map[string]*tableState) {
	byKey := map[string]*schema.Table{}
	for _, t := range history {
		byKey[schema.SchemaKey(t.ID, t.Version)] = t
		r.versions[t.ID] = max(r.versions[t.ID], t.Version)
	}
	for name, st := range states {
		id, err := schema.ParseTableID(name)
		if err != nil || st.Version == 0 {
			continue
		}
		if sch := byKey[schema.SchemaKey(id, st.Version)]; sch != nil && sch.Prepare() == nil {
			r.tables[id] = &table{id: id, sch: sch}
		}
	}
}

func (r *registry) get(id schema.TableID) *table {
	t := r.tables[id]
	if t == nil {
		t = &table{id: id}
		r.tables[id] = t
	}
	return t
}

// describe records a relation message; resolve reads it later.
func (r *registry) describe(m *pglogrepl.RelationMessage) {
	r.rels[m.RelationID] = &relation{oid: m.RelationID, id: schema.TableID{Database: m.Namespace, Name: m.RelationName}, msg: m}
}

// adoption is the outcome of comparing a table's new shape with its
// current version.
type adoption struct {
	// sch is a new version to publish, nil when the shape is unchanged.
	sch *schema.Table
	// rewrites is true when the change may have changed stored values
	// without row events (a column added or retyped): the table must be
	// snapshotted again.
	rewrites bool
}

// adopt makes sch the current version of t unless it has the same shape,
// numbering it after every version ever published.
func (r *registry) adopt(t *table, sch *schema.Table) adoption {
	if t.sch != nil && t.sch.SameShape(sch) {
		return adoption{}
	}
	prev := t.sch
	sch.Renamed(prev, renamesByAttnum(prev, sch))
	r.versions[t.id]++
	sch.Version = r.versions[t.id]
	t.sch = sch
	return adoption{sch: sch, rewrites: prev != nil && rewrites(prev, sch)}
}

// renamesByAttnum maps the columns of b that have the attnum of a column
// of a under another name (a rename; that name gone from b) to that name.
func renamesByAttnum(a, b *schema.Table) map[string]string {
	if a == nil {
		return nil
	}
	var out map[string]string
	for _, c := range b.Columns {
		if c.SourceID == 0 || a.Index(c.Name) >= 0 {
			continue
		}
		for _, p := range a.Columns {
			if p.SourceID == c.SourceID && b.Index(p.Name) < 0 {
				if out == nil {
					out = map[string]string{}
				}
				out[c.Name] = p.Name
			}
		}
	}
	return out
}

// rewrites reports whether going from a to b adds a column or changes a
// column's type: changes Postgres makes to existing rows without
// decoding them as row changes. A renamed column (b names its old name
// first among its aliases) is the same column.
func rewrites(a, b *schema.Table) bool {
	for _, c := range b.Columns {
		i := a.Index(c.Name)
		if i < 0 && len(c.Aliases) > 0 && c.SourceID != 0 {
			if j := a.Index(c.Aliases[0]); j >= 0 && a.Columns[j].SourceID == c.SourceID {
				i = j
			}
		}
		if i < 0 || !a.Columns[i].Type.Equal(c.Type) {
			return true
		}
	}
	return false
}

// build makes a schema version from columns described by the stream or
// read with a snapshot chunk: names, type OIDs and modifiers. info is the
// table's catalog entry now (nil when the table is gone), which gives the
// nullability and the key.
func (r *registry) build(ctx context.Context, q querier, id schema.TableID, cols []catColumn, identity []string) (*schema.Table, []decoder, *Problem, error) {
	info, err := loadTable(ctx, q, id)
	if err != nil {
		return nil, nil, nil, err
	}
	lookup := r.types.lookupFunc(ctx, q)
	sch := &schema.Table{ID: id, Columns: make([]schema.Column, len(cols))}
	decs := make([]decoder, len(cols))
	for i, c := range cols {
		typ, dec, err := mapType(c.typ, c.typmod, lookup)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("column %s.%s: %w", id, c.name, err)
		}
		sch.Columns[i] = schema.Column{Name: c.name, Type: typ, Nullable: info == nil || !info.notNull(c.name)}
		if info != nil {
			sch.Columns[i].SourceID = int(info.attnum(c.name))
		}
		decs[i] = dec
	}
	var prob *Problem
	if info != nil {
		var noKey bool
		sch.Key, prob, noKey = r.s.keyOf(info)
		if noKey && r.s.cfg.SkipWithoutKey {
			return nil, nil, prob, nil
		}
	} else {
		sch.Key = identity
	}
	if prob == nil {
		if err := sch.Prepare(); err != nil {
			// The catalog's key is not among the columns this version
			// has: fall back to the replica identity it was sent with.
			sch.Key = identity
			if err := sch.Prepare(); err != nil {
				return nil, nil, nil, fmt.Errorf("table %s: %w", id, err)
			}
		}
	}
	return sch, decs, prob, nil
}

// resolve gives a described relation its schema version and decoders,
// publishing a new version through publish when the shape changed.
func (r *registry) resolve(ctx context.Context, q querier, rel *relation) (adoption, error) {
	rel.resolved = true
	if !r.s.cfg.Include(rel.id.Database, rel.id.Name) {
		return adoption{}, nil
	}
	t := r.get(rel.id)
	cols := make([]catColumn, len(rel.msg.Columns))
	var identity []string
	for i, c := range rel.msg.Columns {
		cols[i] = catColumn{name: c.Name, typ: c.DataType, typmod: c.TypeModifier}
		if c.Flags&1 != 0 {
			identity = append(identity, c.Name)
		}
	}
	sch, decs, prob, err := r.build(ctx, q, rel.id, cols, identity)
	if err != nil {
		return adoption{}, err
	}
	if sch == nil {
		if !t.skip {
			r.s.log.Warn("table has no primary key; skipping it", "table", rel.id)
		}
		t.skip = true
		return adoption{}, nil
	}
	if prob != nil {
		return adoption{}, problemsError(r.s.cfg.Addr, []Problem{*prob})
	}
	t.skip = false
	a := r.adopt(t, sch)
	rel.t, rel.sch, rel.decs = t, t.sch, decs
	return a, nil
}
