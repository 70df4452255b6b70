package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/tributary-dev/tributary/schema"
)

// tableInfo is what the catalog says about one table now.
type tableInfo struct {
	id  schema.TableID
	oid uint32
	// kind is relkind: 'r' table, 'p' partitioned table.
	kind byte
	// identity is relreplident: 'd' default (primary key), 'f' full,
	// 'i' index, 'n' nothing.
	identity byte
	cols     []catColumn
	// pk lists the primary key columns, identityCols the columns of the
	// replica identity index, both in index order.
	pk, identityCols []string
	// rows is the planner's row estimate, 0 when unknown.
	rows int64
}

type catColumn struct {
	name    string
	typ     uint32
	typmod  int32
	notNull bool
	// attnum is the column's number in the table, which a rename keeps
	// and no other column ever takes.
	attnum int16
	// generated marks a stored generated column, which logical
	// replication does not publish (PostgreSQL before 18): the reader
	// leaves it out of snapshots too, so both agree.
	generated bool
}

// attnum returns the number of the named column, 0 when there is none.
func (t *tableInfo) attnum(name string) int16 {
	for _, c := range t.cols {
		if c.name == name {
			return c.attnum
		}
	}
	return 0
}

// published returns the columns logical replication publishes: all but
// the generated ones.
func (t *tableInfo) published() []catColumn {
	return slices.DeleteFunc(slices.Clone(t.cols), func(c catColumn) bool { return c.generated })
}

// generated reports whether the named column is a generated column.
func (t *tableInfo) generated(name string) bool {
	for _, c := range t.cols {
		if c.name == name {
			return c.generated
		}
	}
	return false
}

func (t *tableInfo) notNull(name string) bool {
	for _, c := range t.cols {
		if c.name == name {
			return c.notNull
		}
	}
	return false
}

// listTables returns the captured tables: ordinary and partitioned tables
// (not partitions, which publish through their root) that Include takes.
func (s *Source) listTables(ctx context.Context, q querier) ([]schema.TableID, error) {
	rows, err := q.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
		AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
		ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	defer rows.Close()
	var out []schema.TableID
	for rows.Next() {
		var id schema.TableID
		if err := rows.Scan(&id.Database, &id.Name); err != nil {
			return nil, fmt.Errorf("list tables: %w", err)
		}
		if s.cfg.Include(id.Database, id.Name) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// loadTable reads a table's columns, keys and replica identity. It returns
// nil when the table does not exist.
func loadTable(ctx context.Context, q querier, id schema.TableID) (*tableInfo, error) {
	t := &tableInfo{id: id}
	var kind, ident string
	rows, err := q.Query(ctx, `SELECT c.oid, c.relkind, c.relreplident, GREATEST(c.reltuples, 0)::bigint
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, id.Database, id.Name)
	if err != nil {
		return nil, fmt.Errorf("read table %s: %w", id, err)
	}
	found := false
	for rows.Next() {
		found = true
		if err := rows.Scan(&t.oid, &kind, &ident, &t.rows); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read table %s: %w", id, err)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil || !found {
		return nil, err
	}
	t.kind, t.identity = kind[0], ident[0]
	rows, err = q.Query(ctx, `SELECT attname, atttypid, atttypmod, attnotnull, attnum, attgenerated <> '' FROM pg_attribute
		WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped ORDER BY attnum`, t.oid)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", id, err)
	}
	for rows.Next() {
		var c catColumn
		if err := rows.Scan(&c.name, &c.typ, &c.typmod, &c.notNull, &c.attnum, &c.generated); err != nil {
			rows.Close()
			return nil, fmt.Errorf("read columns of %s: %w", id, err)
		}
		t.cols = append(t.cols, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = q.Query(ctx, `SELECT i.indisprimary, i.indisreplident, a.attname
		FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1 AND (i.indisprimary OR i.indisreplident) ORDER BY i.indexrelid, k.ord`, t.oid)
	if err != nil {
		return nil, fmt.Errorf("read keys of %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var primary, replident bool
		var name string
		if err := rows.Scan(&primary, &replident, &name); err != nil {
			return nil, fmt.Errorf("read keys of %s: %w", id, err)
		}
		if primary {
			t.pk = append(t.pk, name)
		}
		if replident {
			t.identityCols = append(t.identityCols, name)
		}
	}
	return t, rows.Err()
}

// Problem is one unmet prerequisite with the way to fix it.
type Problem struct {
	What string
	Fix  string
}

func (p Problem) String() string { return p.What + "; fix: " + p.Fix }

// ErrPrerequisites wraps the problems the reader found at start.
var ErrPrerequisites = fmt.Errorf("source prerequisites not met")

// problemsError returns a fatal error listing every problem.
func problemsError(where string, probs []Problem) error {
	msgs := make([]string, len(probs))
	for i, p := range probs {
		msgs[i] = "  - " + p.String()
	}
	return fatal(fmt.Errorf("%w on %s:\n%s", ErrPrerequisites, where, strings.Join(msgs, "\n")))
}

// keyOf returns the key columns of a table (the primary key, else the
// configured key, else the replica identity index) and the problem that
// keeps the reader from capturing it exactly, if any. errNoKey is true
// when the problem is a missing key, which SkipWithoutKey forgives.
func (s *Source) keyOf(t *tableInfo) (key []string, prob *Problem, noKey bool) {
	name := quoteTable(t.id)
	switch {
	case len(t.pk) > 0:
		key = t.pk
	case len(s.cfg.Keys[t.id]) > 0:
		key = s.cfg.Keys[t.id]
		for _, k := range key {
			if !slices.ContainsFunc(t.cols, func(c catColumn) bool { return c.name == k }) {
				return nil, &Problem{fmt.Sprintf("tables.keys names column %q, which %s does not have", k, t.id),
					"correct tables.keys for " + t.id.String()}, false
			}
		}
	case t.identity == 'i' && len(t.identityCols) > 0:
		key = t.identityCols
	default:
		return nil, &Problem{fmt.Sprintf("table %s has no primary key", t.id),
			fmt.Sprintf("add one (ALTER TABLE %s ADD PRIMARY KEY (...);), or name its key columns in tables.keys and run ALTER TABLE %s REPLICA IDENTITY FULL;, or set tables.without_primary_key: skip", name, name)}, true
	}
	switch t.identity {
	case 'n':
		return key, &Problem{fmt.Sprintf("table %s has REPLICA IDENTITY NOTHING: PostgreSQL rejects UPDATE and DELETE on a table in a publication that publishes them, and its deletes would carry no key", t.id),
			fmt.Sprintf("ALTER TABLE %s REPLICA IDENTITY DEFAULT; (with a primary key) or ALTER TABLE %s REPLICA IDENTITY FULL;", name, name)}, false
	case 'd':
		if len(t.pk) == 0 {
			return key, &Problem{fmt.Sprintf("table %s has no primary key and REPLICA IDENTITY DEFAULT, so it has no replica identity: PostgreSQL rejects its UPDATE and DELETE once it is published", t.id),
				fmt.Sprintf("ALTER TABLE %s REPLICA IDENTITY FULL;", name)}, false
		}
	case 'i':
		for _, k := range key {
			if !slices.Contains(t.identityCols, k) {
				return key, &Problem{fmt.Sprintf("the replica identity index of %s (%s) does not cover its key (%s), so deletes would arrive without their key", t.id, strings.Join(t.identityCols, ", "), strings.Join(key, ", ")),
					fmt.Sprintf("ALTER TABLE %s REPLICA IDENTITY DEFAULT; or ALTER TABLE %s REPLICA IDENTITY FULL;", name, name)}, false
			}
		}
	}
	return key, nil, false
}
