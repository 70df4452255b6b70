package mysql

import (
	"encoding/json"
	"testing"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
)

// TestGTIDPositions pins how both GTID flavors are parsed from a checkpoint
// and advanced by one transaction, as endTx does.
func TestGTIDPositions(t *testing.T) {
	tests := []struct {
		flavor, set, next, want string
	}{
		{gomysql.MariaDBFlavor, "0-1-41", "0-1-42", "0-1-42"},
		{gomysql.MariaDBFlavor, "0-1-41,1-2-7", "1-2-8", "0-1-41,1-2-8"},
		{gomysql.MariaDBFlavor, "", "0-1-1", "0-1-1"},
		{gomysql.MySQLFlavor, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", "3e11fa47-71ca-11e1-9e33-c80aa9429562:6", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-6"},
		{gomysql.MySQLFlavor, "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5", "4e11fa47-71ca-11e1-9e33-c80aa9429562:1", "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5,4e11fa47-71ca-11e1-9e33-c80aa9429562:1"},
	}
	for _, tt := range tests {
		p := position{GTIDSet: tt.set, File: "bin.000001", Pos: 4}
		set, err := p.gtidSet(tt.flavor)
		if err != nil {
			t.Fatalf("%s %q: %v", tt.flavor, tt.set, err)
		}
		if set == nil {
			set, _ = gomysql.ParseGTIDSet(tt.flavor, "")
		}
		if err := set.Update(tt.next); err != nil {
			t.Fatalf("%s update %q: %v", tt.flavor, tt.next, err)
		}
		if got := set.String(); got != tt.want {
			t.Errorf("%s %q + %q = %q, want %q", tt.flavor, tt.set, tt.next, got, tt.want)
		}
	}
}

func TestPositionOrder(t *testing.T) {
	a := position{File: "mysql-bin.000009", Pos: 900}
	b := position{File: "mysql-bin.000010", Pos: 4}
	if !a.before(b) || b.before(a) || a.before(a) {
		t.Error("binlog positions misordered across files")
	}
}

// TestCheckpointRoundTrip keeps the checkpoint's JSON readable by older
// and newer readers: unknown fields are ignored, missing tables map is
// made.
func TestCheckpointRoundTrip(t *testing.T) {
	cp, err := parseCheckpoint([]byte(`{"flavor":"mariadb","position":{"gtid_set":"0-1-5","file":"f","pos":9},"tx_rows":3,"future":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if cp.Position.Pos != 9 || cp.TxRows != 3 || cp.Tables == nil {
		t.Errorf("parsed %+v", cp)
	}
	b, _ := json.Marshal(cp)
	again, err := parseCheckpoint(b)
	if err != nil || again.Position != cp.Position {
		t.Errorf("round trip: %+v, %v", again, err)
	}
	if _, err := parseCheckpoint([]byte("{")); err == nil {
		t.Error("a broken checkpoint parsed")
	}
}

func TestSameDomains(t *testing.T) {
	parse := func(s string) *gomysql.MariadbGTIDSet {
		g, err := gomysql.ParseMariadbGTIDSet(s)
		if err != nil {
			t.Fatal(err)
		}
		return g.(*gomysql.MariadbGTIDSet)
	}
	tests := []struct {
		want, have string
		same       bool
	}{
		{"0-1-10", "0-1-10", true},
		{"0-1-10", "0-1-10,1-2-5", true}, // a domain the reader never saw
		{"0-1-10,1-2-5", "1-2-5,0-1-10", true},
		{"0-1-10", "", false},      // RESET MASTER
		{"0-1-10", "0-1-9", false}, // an older backup
		{"0-1-10", "0-2-10", false},
		{"0-1-10,1-2-5", "0-1-10", false},
	}
	for _, tc := range tests {
		if got := sameDomains(parse(tc.want), parse(tc.have)); got != tc.same {
			t.Errorf("sameDomains(%q, %q) = %v, want %v", tc.want, tc.have, got, tc.same)
		}
	}
}
