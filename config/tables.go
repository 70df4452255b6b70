package config

import (
	"maps"
	"path"
	"slices"
	"strings"
)

// Tables selects the tables a source captures. Patterns are path.Match
// globs (case-sensitive; "*" and "?" never match a "/") over
// "database.table" for MySQL and "schema.table" for PostgreSQL.
type Tables struct {
	// Include lists the patterns of captured tables; empty means every table.
	Include []string `yaml:"include"`
	// Exclude lists patterns of tables to leave out, applied after Include.
	Exclude []string `yaml:"exclude"`
	// Keys gives key columns, by "database.table", for tables without a
	// primary key.
	Keys map[string][]string `yaml:"keys"`
	// WithoutPrimaryKey says what to do with a captured table that has no
	// primary key and no entry in Keys; default NoKeyFail.
	WithoutPrimaryKey NoKeyPolicy `yaml:"without_primary_key"`
	// Columns gives, by "database.table", columns to leave out of Kafka or
	// to publish only as a keyed hash (PII).
	Columns map[string]ColumnRules `yaml:"columns"`
	// HashSalt is the HMAC-SHA256 key of hashed columns; required when a
	// column is hashed.
	HashSalt Secret `yaml:"hash_salt"`
}

// NoKeyPolicy says what a reader does with a table that has neither a
// primary key nor configured key columns.
type NoKeyPolicy string

// Policies for tables without a key.
const (
	NoKeyFail NoKeyPolicy = "fail" // stop with an error that names the table
	NoKeySkip NoKeyPolicy = "skip" // log a warning and leave the table out
)

// Match reports whether database.table matches an include pattern (or the
// include list is empty) and no exclude pattern. It knows nothing of system
// schemas; Source.MatchTable adds that.
func (t Tables) Match(database, table string) bool {
	name := database + "." + table
	if len(t.Include) > 0 && !matchAny(t.Include, name) {
		return false
	}
	return !matchAny(t.Exclude, name)
}

// KeyColumns returns the configured key columns of database.table, or nil.
func (t Tables) KeyColumns(database, table string) []string {
	return t.Keys[database+"."+table]
}

// namesSchema reports whether an include pattern names schema literally,
// without wildcards in its schema part.
func (t Tables) namesSchema(schema string) bool {
	for _, p := range t.Include {
		if s, _, ok := strings.Cut(p, "."); ok && s == schema && !hasMeta(s) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, err := path.Match(p, name); err == nil && ok {
			return true
		}
	}
	return false
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// validateTables checks patterns, keys and the policy. Qualifier is
// "database" or "schema", for messages.
func (s *Source) validateTables(p *problems) {
	t := &s.Tables
	q := "database"
	if s.Type == SourcePostgres {
		q = "schema"
	}
	for _, list := range []struct {
		key      string
		patterns []string
	}{{"tables.include", t.Include}, {"tables.exclude", t.Exclude}} {
		for i, pat := range list.patterns {
			checkPattern(p, index(list.key, i), pat, q)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(t.Keys)) {
		cols := t.Keys[name]
		key := mapKey("tables.keys", name)
		db, table, ok := strings.Cut(name, ".")
		switch {
		case !ok || db == "" || table == "":
			p.add(key, "%q is not a table name; write it as %s.table, for example shop.audit_log", name, q)
		case hasMeta(name):
			p.add(key, "%q has wildcards; keys need one exact table name per entry", name)
		case s.Type != "" && !s.MatchTable(db, table):
			p.add(key, "table %s is not captured (check tables.include and tables.exclude); remove this entry or include the table", name)
		}
		checkColumns(p, key, cols)
	}
	checkEnum(p, "tables.without_primary_key", t.WithoutPrimaryKey, NoKeyFail, NoKeySkip)
	s.validateColumnRules(p, q)
}

func checkPattern(p *problems, key, pat, qualifier string) {
	if _, err := path.Match(pat, ""); err != nil {
		p.add(key, "%q is not a valid pattern (%v); use * for any run of characters, ? for one, [abc] for a set", pat, err)
		return
	}
	if s, t, ok := strings.Cut(pat, "."); !ok || s == "" || t == "" {
		p.add(key, "%q does not match %s.table names; write %q for every table of %s %q, or \"*.%s\" for table %q in every %s",
			pat, qualifier, pat+".*", qualifier, pat, pat, pat, qualifier)
	}
}

func checkColumns(p *problems, key string, cols []string) {
	if len(cols) == 0 {
		p.add(key, "no key columns; list the columns that identify a row, for example [id, created_at]")
	}
	seen := map[string]bool{}
	for i, c := range cols {
		switch {
		case c == "":
			p.add(index(key, i), "empty column name")
		case seen[c]:
			p.add(index(key, i), "column %q is listed twice", c)
		}
		seen[c] = true
	}
}
