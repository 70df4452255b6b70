package mysql

import (
	"regexp"
	"strings"

	"github.com/tributary-dev/tributary/schema"
)

// ddlKind is what a DDL statement does to the tables it names.
type ddlKind int

const (
	ddlNone         ddlKind = iota // not a table DDL (GRANT, CREATE USER, ...)
	ddlCreate                      // CREATE TABLE
	ddlAlter                       // ALTER TABLE changing columns
	ddlAlterMinor                  // ALTER TABLE that keeps every row value (indexes, drop/rename column, comments)
	ddlDrop                        // DROP TABLE
	ddlTruncate                    // TRUNCATE TABLE
	ddlRename                      // RENAME TABLE / ALTER TABLE ... RENAME TO
	ddlDropDatabase                // DROP DATABASE
)

// ddl is a parsed table DDL statement. For ddlRename, Tables and To are
// parallel; for ddlDropDatabase, Database is set.
type ddl struct {
	Kind     ddlKind
	Tables   []schema.TableID
	To       []schema.TableID
	Database string
	// Renames lists the columns an ALTER renames (RENAME COLUMN, CHANGE),
	// as written in the statement.
	Renames []columnRename
}

// columnRename is one column renamed by an ALTER TABLE.
type columnRename struct{ From, To string }

const identRe = "(`(?:[^`]|``)+`|[\\w$\u0080-\uffff]+)"
const nameRe = identRe + `(?:\s*\.\s*` + identRe + `)?`

var (
	reCreate   = regexp.MustCompile(`(?is)^CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?` + nameRe)
	reAlter    = regexp.MustCompile(`(?is)^ALTER\s+(?:ONLINE\s+)?(?:IGNORE\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?` + nameRe + `(.*)$`)
	reDrop     = regexp.MustCompile(`(?is)^DROP\s+(?:TEMPORARY\s+)?TABLES?\s+(?:IF\s+EXISTS\s+)?(.*)$`)
	reTruncate = regexp.MustCompile(`(?is)^TRUNCATE\s+(?:TABLE\s+)?` + nameRe)
	reRename   = regexp.MustCompile(`(?is)^RENAME\s+TABLES?\s+(.*)$`)
	reDropDB   = regexp.MustCompile(`(?is)^DROP\s+(?:DATABASE|SCHEMA)\s+(?:IF\s+EXISTS\s+)?` + identRe)
	reName     = regexp.MustCompile(`(?s)` + nameRe)
	reRenameTo = regexp.MustCompile(`(?is)\bRENAME\s+(?:TO\s+|AS\s+)?` + nameRe + `\s*$`)
	// Clauses of an ALTER that can change stored values or add columns.
	reAlterData = regexp.MustCompile(`(?i)\b(ADD|MODIFY|CHANGE|CONVERT|ALTER\s+COLUMN\s+\S+\s+(?:SET\s+DATA\s+)?TYPE|FORCE|ENGINE)\b`)
	reComment   = regexp.MustCompile(`(?s)/\*.*?\*/|--[^\n]*\n|#[^\n]*\n`)
	// Clauses of an ALTER that rename a column.
	reRenameColumn = regexp.MustCompile(`(?is)^RENAME\s+COLUMN\s+(?:IF\s+EXISTS\s+)?` + identRe + `\s+TO\s+` + identRe + `\s*$`)
	reChangeColumn = regexp.MustCompile(`(?is)^CHANGE\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?` + identRe + `\s+` + identRe + `\s`)
)

// parseDDL recognizes the table DDL statements the reader must act on. db
// is the statement's default database.
func parseDDL(db, query string) ddl {
	q := strings.TrimSpace(stripComments(query))
	switch {
	case reCreate.MatchString(q):
		m := reCreate.FindStringSubmatch(q)
		return ddl{Kind: ddlCreate, Tables: []schema.TableID{tableName(db, m[1], m[2])}}
	case reAlter.MatchString(q):
		m := reAlter.FindStringSubmatch(q)
		from := tableName(db, m[1], m[2])
		rest := m[3]
		if r := reRenameTo.FindStringSubmatch(rest); r != nil && !regexp.MustCompile(`(?i)RENAME\s+(COLUMN|INDEX|KEY)`).MatchString(rest) {
			return ddl{Kind: ddlRename, Tables: []schema.TableID{from}, To: []schema.TableID{tableName(db, r[1], r[2])}}
		}
		kind := ddlAlterMinor
		if reAlterData.MatchString(withoutIndexClauses(rest)) {
			kind = ddlAlter
		}
		return ddl{Kind: kind, Tables: []schema.TableID{from}, Renames: columnRenames(rest)}
	case reTruncate.MatchString(q):
		m := reTruncate.FindStringSubmatch(q)
		return ddl{Kind: ddlTruncate, Tables: []schema.TableID{tableName(db, m[1], m[2])}}
	case reDropDB.MatchString(q):
		m := reDropDB.FindStringSubmatch(q)
		return ddl{Kind: ddlDropDatabase, Database: unquote(m[1])}
	case reDrop.MatchString(q):
		m := reDrop.FindStringSubmatch(q)
		d := ddl{Kind: ddlDrop}
		for _, n := range reName.FindAllStringSubmatch(trimTrailer(m[1]), -1) {
			d.Tables = append(d.Tables, tableName(db, n[1], n[2]))
		}
		return d
	case reRename.MatchString(q):
		m := reRename.FindStringSubmatch(q)
		d := ddl{Kind: ddlRename}
		for _, pair := range splitTopLevel(m[1]) {
			parts := regexp.MustCompile(`(?is)\s+TO\s+`).Split(strings.TrimSpace(pair), 2)
			if len(parts) != 2 {
				continue
			}
			a, b := reName.FindStringSubmatch(parts[0]), reName.FindStringSubmatch(parts[1])
			if a == nil || b == nil {
				continue
			}
			d.Tables = append(d.Tables, tableName(db, a[1], a[2]))
			d.To = append(d.To, tableName(db, b[1], b[2]))
		}
		return d
	}
	return ddl{}
}

func stripComments(q string) string {
	// Keep MySQL's executable comments (/*!50100 ... */) as text.
	q = regexp.MustCompile(`(?s)/\*!\d*(.*?)\*/`).ReplaceAllString(q, "$1")
	return reComment.ReplaceAllString(q+"\n", " ")
}

// withoutIndexClauses removes ADD INDEX/KEY/CONSTRAINT clauses, which
// change no row value.
// columnRenames returns the column renames among the clauses of an ALTER.
func columnRenames(clauses string) []columnRename {
	var out []columnRename
	for _, c := range splitTopLevel(clauses) {
		c = strings.TrimSpace(c)
		m := reRenameColumn.FindStringSubmatch(c)
		if m == nil {
			m = reChangeColumn.FindStringSubmatch(c)
		}
		if m != nil && unquote(m[1]) != unquote(m[2]) {
			out = append(out, columnRename{From: unquote(m[1]), To: unquote(m[2])})
		}
	}
	return out
}

func withoutIndexClauses(s string) string {
	return regexp.MustCompile(`(?i)\bADD\s+(UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?(INDEX|KEY|CONSTRAINT|PRIMARY|FOREIGN)\b`).ReplaceAllString(s, "")
}

// trimTrailer drops RESTRICT/CASCADE and the server's trailing comment.
func trimTrailer(s string) string {
	s = regexp.MustCompile(`(?i)\s+(RESTRICT|CASCADE)\s*$`).ReplaceAllString(strings.TrimSpace(s), "")
	return s
}

func splitTopLevel(s string) []string {
	var out []string
	depth, start := 0, 0
	inQuote := false
	for i, r := range s {
		switch {
		case r == '`':
			inQuote = !inQuote
		case inQuote:
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func tableName(db, a, b string) schema.TableID {
	if b == "" {
		return schema.TableID{Database: db, Name: unquote(a)}
	}
	return schema.TableID{Database: unquote(a), Name: unquote(b)}
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '`' && s[len(s)-1] == '`' {
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
	return s
}
