package postgres

import (
	"slices"
	"strings"
	"testing"
)

func replayed(t *testing.T, ss *spillSet, xid uint32) []string {
	t.Helper()
	var out []string
	if err := ss.replay(xid, func(m []byte) error { out = append(out, string(m)); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSpill plays the orders in which pgoutput streams a large transaction
// with subtransactions, and checks what a commit replays.
func TestSpill(t *testing.T) {
	big := strings.Repeat("x", 200<<10) // larger than the write and read buffers
	type op struct {
		add        bool
		sub        uint32
		msg        string
		abortSub   uint32
		firstAgain bool
	}
	tests := []struct {
		name string
		ops  []op
		want []string
	}{
		{"top-level only", []op{{add: true, sub: 100, msg: "a"}, {add: true, sub: 100, msg: big}, {add: true, sub: 100, msg: "c"}}, []string{"a", big, "c"}},
		{"a subtransaction rolls back, later changes stay",
			// BEGIN; INSERT a; SAVEPOINT s1; INSERT b1, b2; RELEASE s1;
			// SAVEPOINT s2; INSERT c; ROLLBACK TO s2; INSERT d; COMMIT
			[]op{{add: true, sub: 100, msg: "a"}, {add: true, sub: 101, msg: "b1"}, {add: true, sub: 101, msg: "b2"},
				{add: true, sub: 102, msg: "c"}, {abortSub: 102}, {add: true, sub: 100, msg: "d"}},
			[]string{"a", "b1", "b2", "d"}},
		{"a rollback takes nested subtransactions with it",
			// SAVEPOINT s1; INSERT b; SAVEPOINT s2; INSERT c; RELEASE s2; ROLLBACK TO s1
			[]op{{add: true, sub: 100, msg: "a"}, {add: true, sub: 101, msg: "b"}, {add: true, sub: 102, msg: "c"},
				{abortSub: 102}, {abortSub: 101}, {add: true, sub: 100, msg: "e"}},
			[]string{"a", "e"}},
		{"an abort of a subtransaction that sent nothing", []op{{add: true, sub: 100, msg: "a"}, {abortSub: 105}}, []string{"a"}},
		{"streamed again from the start after a reconnect",
			[]op{{add: true, sub: 100, msg: "a"}, {add: true, sub: 100, msg: "b"}, {firstAgain: true}, {add: true, sub: 100, msg: "a"}},
			[]string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ss := newSpillSet(t.TempDir())
			defer ss.close()
			for _, o := range tt.ops {
				switch {
				case o.add:
					if err := ss.add(100, o.sub, []byte(o.msg)); err != nil {
						t.Fatal(err)
					}
				case o.firstAgain:
					ss.reset(100)
				default:
					if err := ss.abort(100, o.abortSub); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := replayed(t, ss, 100); !slices.Equal(got, tt.want) {
				t.Errorf("replay = %q, want %q", short(got), short(tt.want))
			}
			if len(ss.files) != 0 {
				t.Errorf("the file outlives the commit")
			}
		})
	}
}

func short(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		if len(x) > 10 {
			x = x[:10] + "..."
		}
		out[i] = x
	}
	return out
}

// TestSpillAbortAndInterleave checks that a whole abort drops only its own
// transaction and that transactions streamed in turn stay apart.
func TestSpillAbortAndInterleave(t *testing.T) {
	ss := newSpillSet(t.TempDir())
	defer ss.close()
	for i := range 3 {
		_ = ss.add(1, 1, []byte{'a', byte('0' + i)})
		_ = ss.add(2, 2, []byte{'b', byte('0' + i)})
	}
	if err := ss.abort(1, 1); err != nil {
		t.Fatal(err)
	}
	if got := replayed(t, ss, 1); got != nil {
		t.Errorf("aborted transaction replayed %q", got)
	}
	if got := replayed(t, ss, 2); !slices.Equal(got, []string{"b0", "b1", "b2"}) {
		t.Errorf("replay = %q", got)
	}
}
