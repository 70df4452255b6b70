package config

import (
	"maps"
	"slices"
	"strings"
)

// ColumnRules are the redactions of one table's columns: columns left out
// of every schema and row image, and columns whose values are replaced by
// the hex HMAC-SHA256 of the value under Tables.HashSalt.
type ColumnRules struct {
	// Exclude names columns that never reach Kafka.
	Exclude []string `yaml:"exclude"`
	// Hash names columns published as the hash of their value.
	Hash []string `yaml:"hash"`
}

// minSaltLen is the shortest hash salt accepted: the salt is the HMAC key,
// and a short one could be guessed, which would let anyone test guesses of
// hashed values.
const minSaltLen = 16

// validateColumnRules checks tables.columns and tables.hash_salt. Column
// names are checked against the tables when the reader sees them.
func (s *Source) validateColumnRules(p *problems, qualifier string) {
	t := &s.Tables
	hashing := false
	for _, name := range slices.Sorted(maps.Keys(t.Columns)) {
		r := t.Columns[name]
		key := mapKey("tables.columns", name)
		db, table, ok := strings.Cut(name, ".")
		switch {
		case !ok || db == "" || table == "":
			p.add(key, "%q is not a table name; write it as %s.table, for example shop.customers", name, qualifier)
		case hasMeta(name):
			p.add(key, "%q has wildcards; column rules need one exact table name per entry", name)
		case s.Type != "" && !s.MatchTable(db, table):
			p.add(key, "table %s is not captured (check tables.include and tables.exclude); remove this entry or include the table", name)
		}
		if len(r.Exclude)+len(r.Hash) == 0 {
			p.add(key, "no columns; list columns under exclude or hash, or remove the entry")
		}
		seen := map[string]string{}
		for _, list := range []struct {
			key  string
			cols []string
		}{{join(key, "exclude"), r.Exclude}, {join(key, "hash"), r.Hash}} {
			for i, c := range list.cols {
				switch {
				case c == "":
					p.add(index(list.key, i), "empty column name")
				case seen[c] != "":
					p.add(index(list.key, i), "column %q is already listed in %s; a column is either excluded or hashed", c, seen[c])
				default:
					seen[c] = list.key
				}
			}
		}
		keyCols := t.Keys[name]
		for i, c := range r.Exclude {
			if slices.Contains(keyCols, c) {
				p.add(index(join(key, "exclude"), i), "column %q is a key column in tables.keys; a key column cannot be excluded (hash it instead)", c)
			}
		}
		hashing = hashing || len(r.Hash) > 0
	}
	switch n := len(t.HashSalt); {
	case hashing && n == 0:
		p.add("tables.hash_salt", "required when tables.columns hashes a column; set it to a secret of at least %d characters, such as ${PII_SALT} or file:/run/secrets/pii_salt", minSaltLen)
	case n > 0 && n < minSaltLen:
		p.add("tables.hash_salt", "too short (%d characters); use at least %d random characters, such as the output of `openssl rand -hex 32`", n, minSaltLen)
	}
}
