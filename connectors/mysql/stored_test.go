package mysql

import (
	"encoding/hex"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/tributary-dev/tributary/schema"
)

// TestStoredUUID checks the stored form of UUIDs against what MariaDB
// 10.11 stores for them: version 1 to 5 UUIDs of the RFC variant have
// their groups reversed, others (v7, nil, other variants) are stored as
// they read; the binlog drops trailing zero bytes.
func TestStoredUUID(t *testing.T) {
	for _, tt := range []struct{ stored, want string }{
		// v1: 6ccd780c-baba-1026-9564-5b8c656024db
		{"5b8c656024db9564" + "1026baba6ccd780c", "6ccd780c-baba-1026-9564-5b8c656024db"},
		// v4: 0e9f2a5c-0000-4000-8000-000000000001
		{"000000000001" + "8000" + "4000" + "0000" + "0e9f2a5c", "0e9f2a5c-0000-4000-8000-000000000001"},
		// v7, not swapped: 01890a5d-ac96-774b-bcce-b302099a8057
		{"01890a5dac96774bbcceb302099a8057", "01890a5d-ac96-774b-bcce-b302099a8057"},
		// nil, with its zero bytes dropped
		{"", "00000000-0000-0000-0000-000000000000"},
		// version nibble 0 with the RFC variant: not swapped
		{"00112233445500778899aabbccddeeff", "00112233-4455-0077-8899-aabbccddeeff"},
	} {
		b, _ := hex.DecodeString(tt.stored)
		got, err := storedUUID(nil, b)
		if err != nil || got != tt.want {
			t.Errorf("storedUUID(%s) = %v, %v; want %s", tt.stored, got, err, tt.want)
		}
	}
}

// TestStoredInet6 checks INET6 text against what MariaDB writes.
func TestStoredInet6(t *testing.T) {
	for _, tt := range []struct{ stored, want string }{
		{"", "::"},
		{"00000000000000000000000000000001", "::1"},
		{"00000000000000000000ffff01020304", "::ffff:1.2.3.4"},
		{"000000000000000000000000c0a80001", "::192.168.0.1"},
		{"20010db8000000000000000000000001", "2001:db8::1"},
		{"20010db8000100000001000000000001", "2001:db8:1:0:1::1"},
		{"00010000000000020000000000000003", "1:0:0:2::3"},
		{"00010000000000020000000000030004", "1::2:0:0:3:4"},
		{"00010002000300040005000600070008", "1:2:3:4:5:6:7:8"},
		{"00010000000200030004000500060007", "1::2:3:4:5:6:7"},
		{"fe800000000000000000000000000000", "fe80::"},
		{"00000000000000000000fffe01020304", "::fffe:102:304"},
	} {
		b, _ := hex.DecodeString(tt.stored)
		got, err := storedInet6(nil, b)
		if err != nil || got != tt.want {
			t.Errorf("storedInet6(%s) = %v, %v; want %s", tt.stored, got, err, tt.want)
		}
	}
}

// TestStoredTypesFrom checks that a table map's BINARY(16) takes the
// stored type of the known version's column, by name or through a rename,
// and nothing else does.
func TestStoredTypesFrom(t *testing.T) {
	bin := func(name string, n int) column {
		c, err := colSpec{name: name, sqlType: gomysql.MYSQL_TYPE_STRING, charset: "binary", length: n}.column()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	known := &schema.Table{Columns: []schema.Column{
		{Name: "u", Type: schema.Type{Kind: schema.KindUUID, Native: "uuid"}},
		{Name: "ip", Type: schema.Type{Kind: schema.KindInet, Native: "inet6"}},
		{Name: "b", Type: schema.Type{Kind: schema.KindBytes, Native: "binary(16)"}},
		{Name: "old", Type: schema.Type{Kind: schema.KindUUID, Native: "uuid"}},
	}}
	cols := []column{bin("u", 16), bin("ip", 16), bin("b", 16), bin("new", 16), bin("other", 16), bin("U8", 8)}
	storedTypesFrom(cols, known, map[string]string{"new": "old"})
	want := []schema.Kind{schema.KindUUID, schema.KindInet, schema.KindBytes, schema.KindUUID, schema.KindBytes, schema.KindBytes}
	for i, c := range cols {
		if c.Type.Kind != want[i] {
			t.Errorf("column %s: kind %s, want %s", c.Name, c.Type.Kind, want[i])
		}
	}
}
