package verify

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

// LakeResult is the comparison of one source table with its lake table.
type LakeResult struct {
	Table                     schema.TableID
	SourceRows, LakeRows      int
	Missing, Extra, Differing int
	// Duplicates counts keys that are live more than once in the lake.
	Duplicates int
	// SourceSum and LakeSum are order-independent checksums of each
	// side's rows over the source's columns, each computed from that
	// side's own values (zero when not computed).
	SourceSum, LakeSum uint64
	// Details describes the first differences.
	Details []string
}

// Equal reports whether the lake table equals the source table.
func (r *LakeResult) Equal() bool {
	return r.Missing+r.Extra+r.Differing+r.Duplicates == 0 && r.SourceSum == r.LakeSum
}

func (r *LakeResult) String() string {
	return fmt.Sprintf("%s: source %d rows, lake %d rows: %d missing, %d extra, %d differing, %d duplicated keys",
		r.Table, r.SourceRows, r.LakeRows, r.Missing, r.Extra, r.Differing, r.Duplicates)
}

// CompareLake reads a MySQL table and its lake table (through iceberg-go,
// which applies the position deletes) and compares them row by row, as
// text, over the source's current columns. The lake table is found by the
// newest schema version on the source's schema topic, in namespace
// (the compactor's default namespace is the database name).
func CompareLake(ctx context.Context, conn *client.Conn, l *iceberg.Lake, brokers []string, prefix, namespace string, id schema.TableID) (*LakeResult, error) {
	newest, rows, err := readLake(ctx, l, brokers, prefix, namespace, id)
	if err != nil {
		return nil, err
	}
	src, err := ReadSource(conn, id)
	if err != nil {
		return nil, err
	}
	return compareLakeRows(id, newest, rows, src.Rows, src.Columns, src.Key, mysqlText), nil
}

// readLake reads the lake table of id as of the newest schema version on
// the source's schema topic.
func readLake(ctx context.Context, l *iceberg.Lake, brokers []string, prefix, namespace string, id schema.TableID) (*schema.Table, []map[string]any, error) {
	schemas, err := ReadSchemas(ctx, brokers, prefix)
	if err != nil {
		return nil, nil, err
	}
	newest, err := schemas.Newest(id)
	if err != nil {
		return nil, nil, err
	}
	rows, err := l.ReadTable(ctx, namespace, id.Name, newest)
	return newest, rows, err
}

// textRules say how one source's rows compare as text: how a lake value
// is rendered like the source shows it, the row key, column equality and
// the row checksum.
type textRules struct {
	text  func(schema.Type, any) any
	key   func(map[string]any, []string) string
	equal func(schema.Kind, any, any) bool
	sum   func(map[string]any, []string, map[string]schema.Kind) uint64
}

var mysqlText = textRules{
	text:  func(t schema.Type, v any) any { return Text(t.Kind, v) },
	key:   rowKey,
	equal: func(_ schema.Kind, src, lake any) bool { return normalize(src) == normalize(lake) },
	sum:   func(row map[string]any, cols []string, _ map[string]schema.Kind) uint64 { return rowSum(row, cols) },
}

var postgresText = textRules{text: PGText, key: pgRowKey, equal: pgEqual, sum: pgRowSum}

// compareLakeRows compares a source table's rows (by key, as text) with
// its lake rows.
func compareLakeRows(id schema.TableID, newest *schema.Table, rows []map[string]any, srcRows map[string]map[string]any, srcCols, srcKey []string, tr textRules) *LakeResult {
	res := &LakeResult{Table: id, SourceRows: len(srcRows), LakeRows: len(rows)}
	detail := func(format string, args ...any) {
		if len(res.Details) < 10 {
			res.Details = append(res.Details, fmt.Sprintf(format, args...))
		}
	}
	kinds := map[string]schema.Kind{}
	for _, c := range newest.Columns {
		kinds[c.Name] = c.Type.Kind
	}
	lakeRows := map[string]map[string]any{}
	for _, r := range rows {
		text := make(map[string]any, len(newest.Columns))
		for _, c := range newest.Columns {
			text[c.Name] = tr.text(c.Type, r[c.Name])
		}
		k := tr.key(text, srcKey)
		if _, dup := lakeRows[k]; dup {
			res.Duplicates++
			detail("key %q is live twice in the lake", k)
		}
		lakeRows[k] = text
	}
	for _, k := range slices.Sorted(maps.Keys(srcRows)) {
		want := srcRows[k]
		res.SourceSum += tr.sum(want, srcCols, kinds)
		got, ok := lakeRows[k]
		if !ok {
			res.Missing++
			detail("row %q is in the source but not in the lake", k)
			continue
		}
		var diffs []string
		for _, c := range srcCols {
			if g, has := got[c]; !has || !tr.equal(kinds[c], want[c], g) {
				diffs = append(diffs, fmt.Sprintf("column %s: source %v, lake %v (present %v)", c, short(want[c]), short(g), has))
			}
		}
		if len(diffs) > 0 {
			res.Differing++
			detail("row %q %s", k, strings.Join(diffs, "; "))
		}
	}
	for k, row := range lakeRows {
		res.LakeSum += tr.sum(row, srcCols, kinds)
		if _, ok := srcRows[k]; !ok {
			res.Extra++
			detail("row %q is in the lake but not in the source", k)
		}
	}
	return res
}

// WaitLake compares a table with its lake table until they are equal or
// the timeout passes, and returns the last comparison.
func WaitLake(ctx context.Context, conn *client.Conn, l *iceberg.Lake, brokers []string, prefix, namespace string, id schema.TableID, timeout time.Duration) (*LakeResult, error) {
	deadline := time.Now().Add(timeout)
	for {
		res, err := CompareLake(ctx, conn, l, brokers, prefix, namespace, id)
		if err == nil && res.Equal() || time.Now().After(deadline) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// IcebirdDir is the folder of the icebird reader script, relative to the
// integration package.
const IcebirdDir = "verify/icebird"

// ReadIcebird reads a local lake table with icebird (npm), an Iceberg
// reader we did not write, through integration/verify/icebird/read.mjs. It
// installs the script's npm packages on first use. Rows map column names to
// the text read.mjs prints.
func ReadIcebird(ctx context.Context, dir, metadataLocation string) ([]map[string]any, error) {
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "icebird")); err != nil {
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("npm ci in %s: %w\n%s", dir, err, out)
		}
	}
	u, err := url.Parse(metadataLocation)
	if err != nil || u.Scheme != "file" {
		return nil, fmt.Errorf("icebird reads local tables only, not %q", metadataLocation)
	}
	path := u.Path
	cmd := exec.CommandContext(ctx, "node", "read.mjs", path)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("icebird read %s: %w\n%s", path, err, stderr.String())
	}
	var res struct {
		Rows []map[string]any `json:"rows"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return nil, fmt.Errorf("icebird output: %w", err)
	}
	return res.Rows, nil
}

// icebirdText returns the text read.mjs prints for a source value as
// ReadSource shows it, or false for types icebird does not read exactly:
// floats, unsigned 64-bit numbers and decimals of more than 15 digits
// become JavaScript numbers, and binary columns are decoded as UTF-8
// (icebird reads Parquet with hyparquet's defaults). iceberg-go's reading
// (CompareLake) checks those exactly.
func icebirdText(t schema.Type, v any) (any, bool) {
	s, ok := v.(string)
	if v == nil || !ok {
		return nil, v == nil
	}
	switch t.Kind {
	case schema.KindFloat32, schema.KindFloat64, schema.KindUint64, schema.KindBit, schema.KindTime,
		schema.KindBytes, schema.KindGeometry:
		return nil, false
	case schema.KindDecimal:
		if t.Precision == 0 || t.Precision > 15 {
			return nil, false
		}
	case schema.KindUUID:
		return uuidBase64(s), true
	case schema.KindTimestamp, schema.KindTimestampTZ:
		t, err := time.Parse("2006-01-02 15:04:05.999999", s)
		if err != nil {
			return nil, false
		}
		// hyparquet divides the microseconds by 1000 as a BigInt, which
		// truncates toward zero (up, before 1970), as Go's division does.
		return time.UnixMilli(t.UnixMicro() / 1000).UTC().Format("2006-01-02T15:04:05.000Z"), true
	}
	return s, true
}

// CompareIcebird compares a MySQL table with its lake table read by
// icebird: the same live keys, each once, and equal values in every column
// icebird reads exactly (see icebirdText).
func CompareIcebird(ctx context.Context, conn *client.Conn, l *iceberg.Lake, dir string, brokers []string, prefix, namespace string, id schema.TableID) (*LakeResult, error) {
	schemas, err := ReadSchemas(ctx, brokers, prefix)
	if err != nil {
		return nil, err
	}
	newest, err := schemas.Newest(id)
	if err != nil {
		return nil, err
	}
	loc, err := l.MetadataLocation(ctx, namespace, id.Name)
	if err != nil {
		return nil, err
	}
	rows, err := ReadIcebird(ctx, dir, loc)
	if err != nil {
		return nil, err
	}
	src, err := ReadSource(conn, id)
	if err != nil {
		return nil, err
	}
	res := &LakeResult{Table: id, SourceRows: len(src.Rows), LakeRows: len(rows)}
	detail := func(format string, args ...any) {
		if len(res.Details) < 10 {
			res.Details = append(res.Details, fmt.Sprintf(format, args...))
		}
	}
	types := map[string]schema.Type{}
	for _, c := range newest.Columns {
		types[c.Name] = c.Type
	}
	lakeRows := map[string]map[string]any{}
	for _, r := range rows {
		k := rowKey(r, src.Key)
		if _, dup := lakeRows[k]; dup {
			res.Duplicates++
			detail("key %q is live twice in the lake (icebird)", k)
		}
		lakeRows[k] = r
	}
	// icebird decodes binary values as UTF-8, and read.mjs prints a UUID's
	// bytes in base64, so a key is looked up as icebird shows it.
	icebirdKey := func(row map[string]any) string {
		shown := maps.Clone(row)
		for _, c := range src.Key {
			s, ok := shown[c].(string)
			switch {
			case ok && types[c].Kind == schema.KindBytes:
				shown[c] = string([]rune(s))
			case ok && types[c].Kind == schema.KindUUID:
				shown[c] = uuidBase64(s)
			}
		}
		return rowKey(shown, src.Key)
	}
	for _, sk := range slices.Sorted(maps.Keys(src.Rows)) {
		k := icebirdKey(src.Rows[sk])
		got, ok := lakeRows[k]
		if !ok {
			res.Missing++
			detail("row %q is in the source but not in the lake (icebird)", k)
			continue
		}
		delete(lakeRows, k)
		var diffs []string
		for _, c := range src.Columns {
			want, comparable := icebirdText(types[c], src.Rows[sk][c])
			if !comparable || !asciiName(c) {
				continue
			}
			if g := got[c]; fmt.Sprint(g) != fmt.Sprint(want) {
				diffs = append(diffs, fmt.Sprintf("column %s: source %v, icebird %v", c, short(want), short(g)))
			}
		}
		if len(diffs) > 0 {
			res.Differing++
			detail("row %q %s", k, strings.Join(diffs, "; "))
		}
	}
	for k := range lakeRows { // what no source row took
		res.Extra++
		detail("row %q is in the lake (icebird) but not in the source", k)
	}
	return res, nil
}

// uuidBase64 returns the base64 of a UUID's 16 bytes, as read.mjs prints
// them, or the text itself when it is no UUID.
func uuidBase64(s string) string {
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return s
	}
	return base64.StdEncoding.EncodeToString(b)
}

// asciiName reports whether a column's name is ASCII. Data files name a
// column as Java Iceberg does (a name that is no Avro name is escaped,
// non-ASCII letters kept); icebird escapes every non-ASCII letter too, so
// it does not find such a column's values.
func asciiName(name string) bool {
	for i := range len(name) {
		if name[i] >= 0x80 {
			return false
		}
	}
	return true
}

// CompareLakePostgres reads a PostgreSQL table and its lake table (through
// iceberg-go) and compares them row by row, as Postgres text, over the
// table's current columns.
func CompareLakePostgres(ctx context.Context, conn *pgx.Conn, l *iceberg.Lake, brokers []string, prefix, namespace string, id schema.TableID) (*LakeResult, error) {
	newest, rows, err := readLake(ctx, l, brokers, prefix, namespace, id)
	if err != nil {
		return nil, err
	}
	src, err := ReadPostgres(ctx, conn, id)
	if err != nil {
		return nil, err
	}
	return compareLakeRows(id, newest, rows, src.Rows, src.Columns, src.Key, postgresText), nil
}
