package redact

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/schema"
)

// memSink is a connectors.Sink in memory. Schemas round-trip through JSON
// as on the schema topic; staged records become visible on Commit.
type memSink struct {
	schemas, staged [][]byte
	events          []*schema.Event
	stagedEvents    []*schema.Event
}

func (m *memSink) Open(context.Context) ([]byte, error) {
	m.staged, m.stagedEvents = nil, nil
	return nil, nil
}

func (m *memSink) Schemas(context.Context) ([]*schema.Table, error) {
	var out []*schema.Table
	for _, b := range m.schemas {
		t := new(schema.Table)
		if err := json.Unmarshal(b, t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func (m *memSink) Add(_ context.Context, e *schema.Event) error {
	m.stagedEvents = append(m.stagedEvents, e)
	return nil
}

func (m *memSink) AddSchema(_ context.Context, t *schema.Table) error {
	b, err := json.Marshal(t)
	m.staged = append(m.staged, b)
	return err
}

func (m *memSink) Commit(context.Context, []byte) error {
	m.schemas = append(m.schemas, m.staged...)
	m.events = append(m.events, m.stagedEvents...)
	m.staged, m.stagedEvents = nil, nil
	return nil
}

func (m *memSink) Close() {}

var salt = []byte("0123456789abcdef-test-salt")

// hmacHex computes the expected hash independently of the package.
func hmacHex(s string) string {
	mac := hmac.New(sha256.New, salt)
	mac.Write([]byte(s))
	return hex.EncodeToString(mac.Sum(nil))
}

var customers = schema.TableID{Database: "shop", Name: "customers"}

func customersV(version int, extra ...schema.Column) *schema.Table {
	t := &schema.Table{ID: customers, Version: version, Key: []string{"id"}, Columns: append([]schema.Column{
		{Name: "id", Type: schema.Type{Kind: schema.KindInt64}},
		{Name: "email", Type: schema.Type{Kind: schema.KindString, Native: "varchar(100)"}, Nullable: true},
		{Name: "ssn", Type: schema.Type{Kind: schema.KindString}, Nullable: true},
		{Name: "note", Type: schema.Type{Kind: schema.KindString}, Nullable: true},
	}, extra...)}
	if err := t.Prepare(); err != nil {
		panic(err)
	}
	return t
}

func newSink(t *testing.T, inner connectors.Sink, rules Rules) *Sink {
	t.Helper()
	s, err := New(inner, Config{Tables: map[schema.TableID]Rules{customers: rules}, Salt: salt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Schemas(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ev(tbl *schema.Table, op schema.Op, before, after []any) *schema.Event {
	return &schema.Event{Table: tbl, Op: op, Before: before, After: after, Source: schema.Source{Connector: "postgresql", Name: "src", CommitTime: time.UnixMilli(1)}}
}

// envelopes encodes what reached the inner sink, keys and values, as the
// publisher would.
func envelopes(t *testing.T, m *memSink) string {
	t.Helper()
	var b []byte
	for _, e := range m.events {
		var err error
		if e.Op != schema.OpTruncate {
			if b, err = schema.AppendKey(b, e); err != nil {
				t.Fatal(err)
			}
		}
		if b, err = schema.AppendEnvelope(b, e, time.Now()); err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
	}
	for _, s := range m.schemas {
		b = append(append(b, s...), '\n')
	}
	return string(b)
}

func TestRedactSchemaAndEvents(t *testing.T) {
	ctx := context.Background()
	m := &memSink{}
	s := newSink(t, m, Rules{Exclude: []string{"ssn"}, Hash: []string{"email"}})
	v1 := customersV(1)
	must(t, s.AddSchema(ctx, v1))
	must(t, s.Add(ctx, ev(v1, schema.OpRead, nil, []any{int64(1), "ann@example.com", "111-22-3333", "a"})))
	must(t, s.Add(ctx, ev(v1, schema.OpCreate, nil, []any{int64(2), nil, "222-33-4444", "b"})))
	must(t, s.Add(ctx, ev(v1, schema.OpUpdate, []any{int64(1), "ann@example.com", "111-22-3333", "a"}, []any{int64(1), "ann@new.example", "111-22-3333", "a2"})))
	must(t, s.Add(ctx, ev(v1, schema.OpDelete, []any{int64(2), nil, "222-33-4444", "b"}, nil)))
	must(t, s.Add(ctx, ev(v1, schema.OpTruncate, nil, nil)))
	must(t, s.Commit(ctx, nil))

	pubs, _ := m.Schemas(ctx)
	if len(pubs) != 1 {
		t.Fatalf("published %d schemas, want 1", len(pubs))
	}
	pub := pubs[0]
	var names []string
	for _, c := range pub.Columns {
		names = append(names, c.Name+":"+string(c.Type.Kind))
	}
	if want := []string{"id:int64", "email:string", "note:string"}; !reflect.DeepEqual(names, want) {
		t.Errorf("published columns %v, want %v", names, want)
	}
	r := pub.Redaction
	if pub.Version != 1 || r == nil || r.SourceVersion != 1 || !reflect.DeepEqual(r.Excluded, []string{"ssn"}) || !reflect.DeepEqual(r.Hashed, []string{"email"}) || r.SaltID == "" {
		t.Errorf("published version %d redaction %+v", pub.Version, r)
	}
	if got := pub.Source(); !got.SameShape(v1) || got.Version != 1 {
		t.Errorf("Source() = %+v, want the source version", got)
	}

	want := [][2][]any{
		{nil, {int64(1), hmacHex("ann@example.com"), "a"}},
		{nil, {int64(2), nil, "b"}},
		{{int64(1), hmacHex("ann@example.com"), "a"}, {int64(1), hmacHex("ann@new.example"), "a2"}},
		{{int64(2), nil, "b"}, nil},
		{nil, nil},
	}
	for i, e := range m.events {
		if e.Table.Version != 1 || len(e.Table.Columns) != 3 {
			t.Errorf("event %d has table %+v", i, e.Table)
		}
		if !reflect.DeepEqual(e.Before, want[i][0]) || !reflect.DeepEqual(e.After, want[i][1]) {
			t.Errorf("event %d: before %v after %v, want %v %v", i, e.Before, e.After, want[i][0], want[i][1])
		}
	}
	all := envelopes(t, m)
	for _, raw := range []string{"ann@example.com", "ann@new.example", "111-22-3333", "222-33-4444"} {
		if strings.Contains(all, raw) {
			t.Errorf("raw value %q reached the sink", raw)
		}
	}
	if !strings.Contains(all, hmacHex("ann@new.example")) {
		t.Error("the hash of the new email is not in the output")
	}
}

func TestRedactUnchangedColumns(t *testing.T) {
	ctx := context.Background()
	m := &memSink{}
	s := newSink(t, m, Rules{Exclude: []string{"ssn"}, Hash: []string{"email"}})
	v1 := customersV(1)
	must(t, s.AddSchema(ctx, v1))
	// A Postgres TOAST update: email and ssn were not sent.
	e := ev(v1, schema.OpUpdate, nil, []any{int64(1), nil, nil, "n"})
	e.Unchanged = []bool{false, true, true, false}
	must(t, s.Add(ctx, e))
	// Only the excluded column was not sent: nothing is unchanged any more.
	e = ev(v1, schema.OpUpdate, nil, []any{int64(1), "x@example.com", nil, "n"})
	e.Unchanged = []bool{false, false, true, false}
	must(t, s.Add(ctx, e))
	must(t, s.Commit(ctx, nil))

	got := m.events[0]
	if !reflect.DeepEqual(got.After, []any{int64(1), nil, "n"}) || !reflect.DeepEqual(got.Unchanged, []bool{false, true, false}) {
		t.Errorf("toast event: after %v unchanged %v", got.After, got.Unchanged)
	}
	if env, _ := schema.AppendEnvelope(nil, got, time.Now()); !bytes.Contains(env, []byte(`"unchanged":["email"]`)) || bytes.Contains(env, []byte(`"email":null`)) {
		t.Errorf("envelope %s: email must be marked unchanged, not null", env)
	}
	got = m.events[1]
	if !reflect.DeepEqual(got.After, []any{int64(1), hmacHex("x@example.com"), "n"}) || got.Unchanged != nil {
		t.Errorf("event with an unsent excluded column: after %v unchanged %v", got.After, got.Unchanged)
	}
	if e.Unchanged[2] != true || e.After[1] != "x@example.com" {
		t.Error("the reader's event was modified")
	}
}

// TestRedactDDLAndRestart bumps the source version, restarts the sink over
// the same history, and changes the rules: the reader must get its own
// versions back, and a rule change must become a new published version.
func TestRedactDDLAndRestart(t *testing.T) {
	ctx := context.Background()
	m := &memSink{}
	rules := Rules{Exclude: []string{"ssn"}, Hash: []string{"email"}}
	s := newSink(t, m, rules)
	v1 := customersV(1)
	must(t, s.AddSchema(ctx, v1))
	must(t, s.Add(ctx, ev(v1, schema.OpCreate, nil, []any{int64(1), "a@x", "1", "n"})))
	// DDL: a column added; its name is hashed too.
	v2 := customersV(2, schema.Column{Name: "phone", Type: schema.Type{Kind: schema.KindInt64}, Nullable: true})
	rules.Hash = append(rules.Hash, "phone")
	s.cfg.Tables[customers] = rules
	must(t, s.AddSchema(ctx, v2))
	must(t, s.Add(ctx, ev(v2, schema.OpCreate, nil, []any{int64(2), "b@x", "2", "n", int64(5551234)})))
	must(t, s.Commit(ctx, nil))
	if e := m.events[1]; e.Table.Version != 2 || !reflect.DeepEqual(e.After, []any{int64(2), hmacHex("b@x"), "n", hmacHex("5551234")}) {
		t.Errorf("v2 event: version %d after %v", e.Table.Version, e.After)
	}

	// A restart with the same rules: the reader gets v1 and v2 back as
	// it published them, and events go on under v2 with no new version.
	s = newSink(t, m, rules)
	hist, err := s.Schemas(ctx)
	must(t, err)
	if len(hist) != 2 || !hist[0].SameShape(v1) || !hist[1].SameShape(v2) || hist[1].Version != 2 || hist[1].Redaction != nil {
		t.Fatalf("history after restart: %+v", hist)
	}
	restored := hist[1]
	must(t, restored.Prepare())
	must(t, s.Add(ctx, ev(restored, schema.OpCreate, nil, []any{int64(3), "c@x", "3", "n", nil})))
	must(t, s.Commit(ctx, nil))
	if len(m.schemas) != 2 || m.events[2].Table.Version != 2 {
		t.Fatalf("restart published %d schemas, event version %d; want 2 and 2", len(m.schemas), m.events[2].Table.Version)
	}

	// The rules change (note is now excluded): version 3, made from
	// source version 2.
	rules.Exclude = append(rules.Exclude, "note")
	s = newSink(t, m, rules)
	hist, err = s.Schemas(ctx)
	must(t, err)
	must(t, hist[1].Prepare())
	must(t, s.Add(ctx, ev(hist[1], schema.OpCreate, nil, []any{int64(4), "d@x", "4", "n", nil})))
	must(t, s.Commit(ctx, nil))
	pubs, _ := m.Schemas(ctx)
	last := pubs[len(pubs)-1]
	if len(pubs) != 3 || last.Version != 3 || last.Redaction.SourceVersion != 2 || len(last.Columns) != 3 {
		t.Fatalf("after a rule change: %d schemas, last %+v", len(pubs), last)
	}
	if e := m.events[3]; e.Table.Version != 3 || !reflect.DeepEqual(e.After, []any{int64(4), hmacHex("d@x"), nil}) {
		t.Errorf("event after the rule change: version %d after %v", e.Table.Version, e.After)
	}
	// The next source version after the change is published as 4.
	s = newSink(t, m, rules)
	hist, err = s.Schemas(ctx)
	must(t, err)
	if len(hist) != 2 || hist[1].Version != 2 {
		t.Fatalf("history after the rule change: %d tables, last version %d; want source versions 1 and 2", len(hist), hist[len(hist)-1].Version)
	}
	v3 := customersV(3)
	must(t, s.AddSchema(ctx, v3))
	must(t, s.Add(ctx, ev(v3, schema.OpCreate, nil, []any{int64(5), "e@x", "5", "n"})))
	must(t, s.Commit(ctx, nil))
	if e := m.events[4]; e.Table.Version != 4 || e.Table.Redaction.SourceVersion != 3 {
		t.Errorf("source version 3 published as %d (from %d), want 4", e.Table.Version, e.Table.Redaction.SourceVersion)
	}
}

func TestRedactKeyColumns(t *testing.T) {
	ctx := context.Background()
	// Excluding a key column is refused, as a fatal error.
	s := newSink(t, &memSink{}, Rules{Exclude: []string{"id"}})
	err := s.AddSchema(ctx, customersV(1))
	if !errors.Is(err, ErrConfig) || !connectors.IsFatal(err) || !strings.Contains(err.Error(), "shop.customers.id") {
		t.Errorf("excluding a key column: %v", err)
	}
	// Hashing a key column hashes the Kafka key too.
	m := &memSink{}
	s = newSink(t, m, Rules{Hash: []string{"id"}})
	v1 := customersV(1)
	must(t, s.AddSchema(ctx, v1))
	must(t, s.Add(ctx, ev(v1, schema.OpCreate, nil, []any{int64(42), "a", "b", "c"})))
	must(t, s.Commit(ctx, nil))
	key, err := schema.AppendKey(nil, m.events[0])
	must(t, err)
	if want := `{"id":"` + hmacHex("42") + `"}`; string(key) != want {
		t.Errorf("key %s, want %s", key, want)
	}
}

func TestRedactUnknownColumn(t *testing.T) {
	ctx := context.Background()
	m := &memSink{}
	s := newSink(t, m, Rules{Hash: []string{"emial"}})
	err := s.AddSchema(ctx, customersV(1))
	if !connectors.IsFatal(err) || !strings.Contains(err.Error(), `"emial"`) {
		t.Errorf("unknown column: %v", err)
	}
	// A column dropped by a later DDL is no error.
	s = newSink(t, m, Rules{Hash: []string{"note"}})
	must(t, s.AddSchema(ctx, customersV(1)))
	v2 := customersV(2)
	v2.Columns = v2.Columns[:3]
	must(t, s.AddSchema(ctx, v2))
	must(t, s.Commit(ctx, nil))
	// But a restart whose newest version lacks it reports it.
	s2, err := New(m, Config{Tables: map[schema.TableID]Rules{customers: {Hash: []string{"note"}}}, Salt: salt})
	must(t, err)
	_, _ = s2.Open(ctx)
	if _, err := s2.Schemas(ctx); !connectors.IsFatal(err) {
		t.Errorf("restart with a rule naming a dropped column: %v, want a fatal error", err)
	}
}

func TestNewChecksRules(t *testing.T) {
	if _, err := New(&memSink{}, Config{Tables: map[schema.TableID]Rules{customers: {Hash: []string{"email"}}}}); !errors.Is(err, ErrConfig) {
		t.Errorf("hash without salt: %v", err)
	}
	if _, err := New(&memSink{}, Config{Tables: map[schema.TableID]Rules{customers: {Hash: []string{"email"}, Exclude: []string{"email"}}}, Salt: salt}); !errors.Is(err, ErrConfig) {
		t.Errorf("column both hashed and excluded: %v", err)
	}
}

func TestCanonical(t *testing.T) {
	for _, c := range []struct {
		typ  schema.Type
		v    any
		want string
	}{
		{schema.Type{Kind: schema.KindString}, "Zoë \"q\"", "Zoë \"q\""},
		{schema.Type{Kind: schema.KindBytes}, []byte{0, 1, 2}, "\x00\x01\x02"},
		{schema.Type{Kind: schema.KindInt64}, int64(-12), "-12"},
		{schema.Type{Kind: schema.KindDecimal}, "12.340", "12.340"},
		{schema.Type{Kind: schema.KindBool}, true, "true"},
		{schema.Type{Kind: schema.KindDate}, int32(19000), "19000"},
		{schema.Type{Kind: schema.KindTimestampTZ}, int64(1700000000123456), "2023-11-14T22:13:20.123456Z"},
		{schema.Type{Kind: schema.KindFloat64}, 1.5, "1.5"},
		{schema.Type{Kind: schema.KindArray, Elem: &schema.Type{Kind: schema.KindString}}, []any{"a", nil}, `["a",null]`},
	} {
		got, err := Canonical(nil, c.typ, c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("Canonical(%s, %v) = %q, %v; want %q", c.typ, c.v, got, err, c.want)
		}
	}
}

// TestRedactRulesAddedLater publishes a table without rules, then restarts
// with its string column hashed: the shape is the same, but the published
// version must change, so that the lake and consumers see the hashes as a
// new version.
func TestRedactRulesAddedLater(t *testing.T) {
	ctx := context.Background()
	m := &memSink{}
	s := newSink(t, m, Rules{})
	v1 := customersV(1)
	must(t, s.AddSchema(ctx, v1))
	must(t, s.Add(ctx, ev(v1, schema.OpCreate, nil, []any{int64(1), "a@x", "1", "n"})))
	must(t, s.Commit(ctx, nil))
	if m.events[0].Table != v1 {
		t.Fatal("a table without rules must pass as it is")
	}
	s = newSink(t, m, Rules{Hash: []string{"email"}})
	hist, err := s.Schemas(ctx)
	must(t, err)
	must(t, hist[0].Prepare())
	must(t, s.Add(ctx, ev(hist[0], schema.OpCreate, nil, []any{int64(2), "b@x", "2", "n"})))
	must(t, s.Commit(ctx, nil))
	e := m.events[1]
	if e.Table.Version != 2 || e.Table.Redaction == nil || e.Table.Redaction.SourceVersion != 1 || e.After[1] != hmacHex("b@x") {
		t.Errorf("after adding a hash rule: version %d redaction %+v after %v", e.Table.Version, e.Table.Redaction, e.After)
	}
	// And removing the rule again publishes version 3, still from source
	// version 1, with plain values.
	s = newSink(t, m, Rules{})
	hist, err = s.Schemas(ctx)
	must(t, err)
	if len(hist) != 1 || hist[0].Version != 1 {
		t.Fatalf("history: %d tables", len(hist))
	}
	must(t, hist[0].Prepare())
	must(t, s.Add(ctx, ev(hist[0], schema.OpCreate, nil, []any{int64(3), "c@x", "3", "n"})))
	must(t, s.Commit(ctx, nil))
	e = m.events[2]
	if e.Table.Version != 3 || e.Table.Redaction == nil || e.Table.Redaction.SourceVersion != 1 || e.After[1] != "c@x" {
		t.Errorf("after removing the rule: version %d redaction %+v after %v", e.Table.Version, e.Table.Redaction, e.After)
	}
}

// asyncSink is a memSink that counts queued commits.
type asyncSink struct {
	memSink
	queued int
}

func (a *asyncSink) CommitAsync(ctx context.Context, cp []byte) error {
	a.queued++
	return a.Commit(ctx, cp)
}

// TestCommitAsyncForwarded checks that the redacting sink queues commits
// on a sink that can, and commits on one that cannot.
func TestCommitAsyncForwarded(t *testing.T) {
	ctx := context.Background()
	a := &asyncSink{}
	s := newSink(t, a, Rules{Exclude: []string{"ssn"}})
	if err := s.CommitAsync(ctx, []byte("cp")); err != nil || a.queued != 1 {
		t.Errorf("queued %d commits on an async sink (err %v), want 1", a.queued, err)
	}
	m := &memSink{}
	s = newSink(t, m, Rules{Exclude: []string{"ssn"}})
	v1 := customersV(1)
	must(t, s.AddSchema(ctx, v1))
	must(t, s.Add(ctx, ev(v1, schema.OpCreate, nil, []any{int64(1), "ann@example.com", "111-22-3333", "a"})))
	if err := s.CommitAsync(ctx, []byte("cp")); err != nil || len(m.events) != 1 {
		t.Errorf("%d events committed through a sync sink (err %v), want 1", len(m.events), err)
	}
}
