package mysql

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// table is what the reader knows about one captured table.
type table struct {
	id schema.TableID
	// cols decode the current version's rows; sch is that version, nil
	// before the table is first seen or after it is dropped.
	cols []column
	sch  *schema.Table
	// skip is set for a table without a key when such tables are skipped.
	skip bool
	// renames maps, in lower case, a column's new name to its name in sch,
	// for renames seen in DDL and not yet in a published version.
	renames map[string]string
	// m records the table's metrics; see (*reader).tableMetrics.
	m *metrics.ReaderTable
}

// mapped caches the resolution of one binlog table map.
type mapped struct {
	tme  *replication.TableMapEvent
	t    *table
	cols []column
	// dec reads the rows straight from the binlog; nil when a column
	// needs go-mysql's decoding. Built with the mapping.
	dec *rowDecoder
}

// registry tracks the schema of every captured table and hands out
// versions. It is used by the stream goroutine only.
type registry struct {
	src    *Source
	srv    *server
	conn   *client.Conn
	tables map[schema.TableID]*table
	maps   map[uint64]*mapped
	// versions holds the highest version ever published per table, so a
	// dropped and re-created table continues its numbering.
	versions map[schema.TableID]int
}

func newRegistry(src *Source, srv *server, conn *client.Conn) *registry {
	return &registry{src: src, srv: srv, conn: conn, tables: map[schema.TableID]*table{}, maps: map[uint64]*mapped{}, versions: map[schema.TableID]int{}}
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

// included reports whether the configuration captures the table.
func (r *registry) included(id schema.TableID) bool {
	return !systemDatabases[id.Database] && r.src.cfg.Include(id.Database, id.Name)
}

// build makes a schema from columns and the source's key, applying the
// configured key and the without-key policy. It returns nil, nil for a
// skipped table.
func (r *registry) build(id schema.TableID, cols []column, key []string) (*schema.Table, error) {
	if len(key) == 0 {
		key = r.src.cfg.Keys[id]
	}
	sch := &schema.Table{ID: id, Key: key, Columns: make([]schema.Column, len(cols))}
	for i, c := range cols {
		sch.Columns[i] = c.Column
	}
	if len(key) == 0 {
		if r.src.cfg.SkipWithoutKey {
			return nil, nil
		}
		return nil, fatal(fmt.Errorf("table %s has no primary key: add one (ALTER TABLE %s ADD PRIMARY KEY (...)), name key columns in tables.keys, exclude the table in tables.exclude, or set tables.without_primary_key: skip", id, quoteID(id)))
	}
	if err := sch.Prepare(); err != nil {
		return nil, fatal(fmt.Errorf("table %s: %w; fix tables.keys in the source config", id, err))
	}
	return sch, nil
}

// adopt makes sch the table's current version when its shape differs from
// the current one, and returns the new version to publish (or nil).
func (r *registry) adopt(t *table, cols []column, sch *schema.Table) *schema.Table {
	t.cols = cols
	if sch == nil {
		t.skip = true
		return nil
	}
	t.skip = false
	if t.sch != nil && t.sch.SameShape(sch) {
		// Same shape: keep the version, but take fresh decoders.
		return nil
	}
	sch.Renamed(t.sch, t.renamesIn(sch))
	t.renames = nil
	r.versions[t.id]++
	sch.Version = r.versions[t.id]
	t.sch = sch
	return sch
}

// renamed records a column rename seen in DDL, composed with the renames
// since the last version: a column renamed twice keeps its first name.
func (t *table) renamed(from, to string) {
	from, to = strings.ToLower(from), strings.ToLower(to)
	if t.renames == nil {
		t.renames = map[string]string{}
	}
	if orig, ok := t.renames[from]; ok {
		delete(t.renames, from)
		from = orig
	}
	t.renames[to] = from
}

// renamesIn maps the columns of sch that DDL renamed to their names in
// the current version (MySQL column names compare without case).
func (t *table) renamesIn(sch *schema.Table) map[string]string {
	if len(t.renames) == 0 || t.sch == nil {
		return nil
	}
	out := map[string]string{}
	for _, c := range sch.Columns {
		from, ok := t.renames[strings.ToLower(c.Name)]
		if !ok {
			continue
		}
		for _, p := range t.sch.Columns {
			if strings.EqualFold(p.Name, from) {
				out[c.Name] = p.Name
			}
		}
	}
	return out
}

// resolve maps a binlog table map to its table and decoders. It returns a
// nil table for tables that are not captured, and a non-nil schema when
// the table map starts a new schema version.
func (r *registry) resolve(tme *replication.TableMapEvent) (*table, *mapped, *schema.Table, error) {
	if m := r.maps[tme.TableID]; m != nil && sameTableMap(m.tme, tme) {
		if m.t == nil || m.t.skip {
			return nil, nil, nil, nil
		}
		return m.t, m, nil, nil
	}
	id := schema.TableID{Database: string(tme.Schema), Name: string(tme.Table)}
	if !r.included(id) {
		r.maps[tme.TableID] = &mapped{tme: tme}
		return nil, nil, nil, nil
	}
	t := r.get(id)
	var (
		cols []column
		key  []string
		err  error
	)
	if r.srv.rowMetadata && len(tme.ColumnName) > 0 {
		if cols, err = columnsFromTableMap(tme, r.srv.charsetOf); err != nil {
			return nil, nil, nil, fatal(fmt.Errorf("table %s: %w", id, err))
		}
		storedTypesFrom(cols, t.sch, t.renames)
		for _, i := range tme.PrimaryKey {
			key = append(key, cols[i].Name)
		}
	} else {
		// Without row metadata the binlog has no names: take them from
		// information_schema, which is right unless the table changed
		// again after this event (documented).
		if cols, key, err = r.load(id); err != nil {
			return nil, nil, nil, err
		}
		if len(cols) != int(tme.ColumnCount) {
			return nil, nil, nil, fatal(fmt.Errorf("table %s: the binlog has %d columns but information_schema %d; set binlog_row_metadata=FULL so the binlog carries its own schema", id, tme.ColumnCount, len(cols)))
		}
	}
	sch, err := r.build(id, cols, key)
	if err != nil {
		return nil, nil, nil, err
	}
	newSch := r.adopt(t, cols, sch)
	m := &mapped{tme: tme, t: t, cols: cols, dec: newRowDecoder(tme, cols)}
	r.maps[tme.TableID] = m
	if t.skip {
		return nil, nil, nil, nil
	}
	return t, m, newSch, nil
}

// invalidate forgets cached table maps of a table after DDL.
func (r *registry) invalidate(id schema.TableID) {
	for k, m := range r.maps {
		if m.t == nil || m.t.id == id {
			delete(r.maps, k)
		}
	}
}

func sameTableMap(a, b *replication.TableMapEvent) bool {
	if a.ColumnCount != b.ColumnCount || !bytes.Equal(a.Schema, b.Schema) || !bytes.Equal(a.Table, b.Table) ||
		!bytes.Equal(a.ColumnType, b.ColumnType) || !slices.Equal(a.ColumnMeta, b.ColumnMeta) ||
		!bytes.Equal(a.NullBitmap, b.NullBitmap) || !bytes.Equal(a.SignednessBitmap, b.SignednessBitmap) ||
		len(a.ColumnName) != len(b.ColumnName) || !slices.Equal(a.PrimaryKey, b.PrimaryKey) ||
		!slices.Equal(a.ColumnCharset, b.ColumnCharset) || !slices.Equal(a.DefaultCharset, b.DefaultCharset) {
		return false
	}
	for i := range a.ColumnName {
		if !bytes.Equal(a.ColumnName[i], b.ColumnName[i]) {
			return false
		}
	}
	return slices.EqualFunc(a.EnumStrValue, b.EnumStrValue, eqValues) && slices.EqualFunc(a.SetStrValue, b.SetStrValue, eqValues)
}

func eqValues(a, b [][]byte) bool { return slices.EqualFunc(a, b, bytes.Equal) }

// load reads a table's columns and primary key from information_schema.
// It returns no columns for a table that does not exist.
func (r *registry) load(id schema.TableID) ([]column, []string, error) {
	return loadColumns(r.conn, id)
}

func loadColumns(conn *client.Conn, id schema.TableID) ([]column, []string, error) {
	res, err := conn.Execute(`SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IFNULL(CHARACTER_SET_NAME, ''), IS_NULLABLE = 'YES',
		IFNULL(NUMERIC_PRECISION, -1), IFNULL(NUMERIC_SCALE, -1), IFNULL(DATETIME_PRECISION, -1), IFNULL(CHARACTER_OCTET_LENGTH, -1)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`, id.Database, id.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("mysql read columns of %s: %w", id, err)
	}
	cols := make([]column, 0, res.RowNumber())
	for i := range res.RowNumber() {
		var ic infoColumn
		ic.Name, _ = res.GetString(i, 0)
		ic.DataType, _ = res.GetString(i, 1)
		ic.ColumnType, _ = res.GetString(i, 2)
		ic.Charset, _ = res.GetString(i, 3)
		n, _ := res.GetInt(i, 4)
		ic.Nullable = n == 1
		ic.NumericPrecision, _ = res.GetInt(i, 5)
		ic.NumericScale, _ = res.GetInt(i, 6)
		ic.DatetimePrecision, _ = res.GetInt(i, 7)
		ic.CharOctetLength, _ = res.GetInt(i, 8)
		c, err := columnFromInfo(ic)
		if err != nil {
			return nil, nil, fatal(fmt.Errorf("table %s: %w", id, err))
		}
		cols = append(cols, c)
	}
	res, err = conn.Execute(`SELECT COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`, id.Database, id.Name)
	if err != nil {
		return nil, nil, fmt.Errorf("mysql read primary key of %s: %w", id, err)
	}
	var key []string
	for i := range res.RowNumber() {
		k, _ := res.GetString(i, 0)
		key = append(key, k)
	}
	return cols, key, nil
}

// listTables returns every base table the configuration captures.
func (r *registry) listTables() ([]schema.TableID, error) {
	res, err := r.conn.Execute(`SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("mysql list tables: %w", err)
	}
	var out []schema.TableID
	for i := range res.RowNumber() {
		db, _ := res.GetString(i, 0)
		name, _ := res.GetString(i, 1)
		if id := (schema.TableID{Database: db, Name: name}); r.included(id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func quoteID(id schema.TableID) string { return quoteIdent(id.Database) + "." + quoteIdent(id.Name) }
