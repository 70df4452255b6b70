package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseColumnRules(t *testing.T) {
	t.Setenv("PII_SALT", "0123456789abcdef0123")
	s, err := parse(t, minimalMySQL+"tables:\n  hash_salt: ${PII_SALT}\n  columns:\n    shop.customers: {exclude: [ssn], hash: [email, phone]}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]ColumnRules{"shop.customers": {Exclude: []string{"ssn"}, Hash: []string{"email", "phone"}}}
	if !reflect.DeepEqual(s.Tables.Columns, want) || s.Tables.HashSalt.Reveal() != "0123456789abcdef0123" {
		t.Errorf("tables = %+v", s.Tables)
	}
	if s.Tables.HashSalt.String() != "[redacted]" {
		t.Error("the salt must print redacted")
	}
}

func TestColumnRulesErrors(t *testing.T) {
	doc := minimalMySQL + "tables:\n  include: [shop.*]\n  keys:\n    shop.log: [id]\n  columns:\n" +
		"    other.t: {hash: [a]}\n    shop.*: {exclude: [a]}\n    shop.c: {exclude: [ssn, \"\"], hash: [ssn]}\n    shop.e: {}\n    shop.log: {exclude: [id]}\n"
	_, err := parse(t, doc)
	got := errLines(err)
	want := []string{
		`tables.columns["other.t"] at sources/a.yaml:12:5: table other.t is not captured (check tables.include and tables.exclude); remove this entry or include the table`,
		`tables.columns["shop.*"] at sources/a.yaml:13:5: "shop.*" has wildcards; column rules need one exact table name per entry`,
		`tables.columns["shop.c"].exclude[1] at sources/a.yaml:14:29: empty column name`,
		`tables.columns["shop.c"].hash[0] at sources/a.yaml:14:41: column "ssn" is already listed in tables.columns["shop.c"].exclude; a column is either excluded or hashed`,
		`tables.columns["shop.e"] at sources/a.yaml:15:5: no columns; list columns under exclude or hash, or remove the entry`,
		`tables.columns["shop.log"].exclude[0] at sources/a.yaml:16:26: column "id" is a key column in tables.keys; a key column cannot be excluded (hash it instead)`,
		`tables.hash_salt in sources/a.yaml: required when tables.columns hashes a column; set it to a secret of at least 16 characters, such as ${PII_SALT} or file:/run/secrets/pii_salt`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("error lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	_, err = parse(t, minimalMySQL+"tables:\n  hash_salt: short\n")
	if got := errLines(err); len(got) != 1 || !strings.Contains(got[0], "tables.hash_salt at sources/a.yaml:8:3: too short (5 characters)") {
		t.Errorf("short salt: %v", got)
	}
}
