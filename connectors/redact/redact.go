// Package redact keeps chosen columns of a source out of Kafka: a
// connectors.Sink decorator that leaves columns out of every table schema
// and row image, or replaces their values by a keyed hash (PII).
//
// The reader keeps working with its source's own schemas; the decorator
// rewrites each schema version and each event on the way to the sink it
// wraps, so a raw value of a redacted column never reaches that sink. A
// published version carries a schema.Redaction that records the source
// version it was made from, and Schemas hands those source versions back
// to the reader on restart, so the reader compares like with like.
//
// An excluded column is absent from the published schema and images. A
// hashed column is published as a string column holding the lowercase hex
// HMAC-SHA256 of the value's canonical form (see Canonical) under the salt;
// NULL stays NULL, and a Postgres TOAST column that was not sent stays
// marked unchanged. Excluding a key column is refused; hashing one is
// allowed, since the hash is deterministic and collision-resistant and so
// still identifies the row, as long as the salt never changes.
package redact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/schema"
)

// Rules are the redactions of one table.
type Rules struct {
	// Exclude names columns left out of schemas and images.
	Exclude []string
	// Hash names columns whose values are replaced by their hash.
	Hash []string
}

// Config configures a Sink.
type Config struct {
	// Tables gives the rules of each table; a table without an entry
	// passes unchanged.
	Tables map[schema.TableID]Rules
	// Salt is the HMAC-SHA256 key of hashed values; required when a rule
	// hashes a column. Changing it changes every hash (and is published
	// as a new schema version of each table with hashed columns).
	Salt []byte
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// ErrConfig wraps the errors of rules that do not fit a table: an excluded
// key column, a column the table does not have. They are fatal
// (connectors.IsFatal): a restart cannot fix them.
var ErrConfig = errors.New("column redaction")

// Sink redacts what it passes to the sink it wraps. Like that sink, it is
// not safe for concurrent use.
type Sink struct {
	inner  connectors.Sink
	cfg    Config
	log    *slog.Logger
	hasher *hasher
	saltID string

	// Session state, rebuilt by Open and Schemas.
	tables map[schema.TableID]*tableState
	warned bool
}

var (
	_ connectors.Sink           = (*Sink)(nil)
	_ connectors.AsyncCommitter = (*Sink)(nil)
)

// tableState is what the sink knows about one table in this session.
type tableState struct {
	// maxPublished is the highest version published to the inner sink.
	maxPublished int
	// published holds, by source version, the newest version published
	// from it.
	published map[int]*schema.Table
	// plans holds, by source version, how events of that version are
	// rewritten under the current rules.
	plans map[int]*plan
	// checked is set once the rules were checked against the table.
	checked bool
}

// plan rewrites the events of one source version.
type plan struct {
	src *schema.Table
	pub *schema.Table
	// from gives, for each published column, its source column.
	from []int
	// hash marks the published columns that hold hashes.
	hash []bool
	// identity is set when events pass as they are.
	identity bool
}

// New returns a Sink that redacts into inner. It checks the rules (a
// column listed twice, or both excluded and hashed; a hash without a salt)
// and does no I/O.
func New(inner connectors.Sink, cfg Config) (*Sink, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	hashing := false
	for _, id := range slices.SortedFunc(maps.Keys(cfg.Tables), func(a, b schema.TableID) int {
		return compareStrings(a.String(), b.String())
	}) {
		r := cfg.Tables[id]
		seen := map[string]bool{}
		for _, c := range slices.Concat(r.Exclude, r.Hash) {
			if seen[c] {
				return nil, fmt.Errorf("%w: table %s: column %q is listed twice (or both excluded and hashed)", ErrConfig, id, c)
			}
			seen[c] = true
		}
		hashing = hashing || len(r.Hash) > 0
	}
	if hashing && len(cfg.Salt) == 0 {
		return nil, fmt.Errorf("%w: columns are hashed but the salt is empty", ErrConfig)
	}
	s := &Sink{inner: inner, cfg: cfg, log: cfg.Logger}
	if len(cfg.Salt) > 0 {
		s.hasher = newHasher(cfg.Salt)
		s.saltID = s.hasher.saltID()
	}
	return s, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Open opens the inner sink and forgets the session state: whatever was
// staged in an aborted transaction is gone.
func (s *Sink) Open(ctx context.Context) ([]byte, error) {
	s.tables = map[schema.TableID]*tableState{}
	s.warned = false
	return s.inner.Open(ctx)
}

func (s *Sink) state(id schema.TableID) *tableState {
	st := s.tables[id]
	if st == nil {
		st = &tableState{published: map[int]*schema.Table{}, plans: map[int]*plan{}}
		s.tables[id] = st
	}
	return st
}

// Schemas returns the source versions of every committed table version:
// a redacted version turns back into the one it was made from. When the
// rules changed, several published versions come from one source version;
// it is returned once.
func (s *Sink) Schemas(ctx context.Context) ([]*schema.Table, error) {
	if s.tables == nil {
		s.tables = map[schema.TableID]*tableState{}
	}
	history, err := s.inner.Schemas(ctx)
	if err != nil {
		return nil, err
	}
	type key struct {
		id      schema.TableID
		version int
	}
	var (
		out    []*schema.Table
		at     = map[key]int{}
		latest = map[schema.TableID]*schema.Table{}
	)
	for _, pub := range history {
		st := s.state(pub.ID)
		st.maxPublished = max(st.maxPublished, pub.Version)
		src := pub.Source()
		st.published[src.Version] = pub
		k := key{pub.ID, src.Version}
		if i, ok := at[k]; ok {
			out[i] = src
		} else {
			at[k] = len(out)
			out = append(out, src)
		}
		if l := latest[pub.ID]; l == nil || l.Version < src.Version {
			latest[pub.ID] = src
		}
	}
	for _, id := range slices.SortedFunc(maps.Keys(latest), func(a, b schema.TableID) int {
		return compareStrings(a.String(), b.String())
	}) {
		if err := s.check(latest[id]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// check reports, the first time the sink sees a table in a session, a
// rule naming a column the table does not have. Later versions only log
// it (a DDL dropped the column).
func (s *Sink) check(src *schema.Table) error {
	r, ok := s.cfg.Tables[src.ID]
	st := s.state(src.ID)
	if !ok {
		st.checked = true
		return nil
	}
	var missing []string
	for _, c := range slices.Concat(r.Exclude, r.Hash) {
		if src.Index(c) < 0 {
			missing = append(missing, c)
		}
	}
	if len(missing) == 0 {
		st.checked = true
		return nil
	}
	names := make([]string, len(src.Columns))
	for i, c := range src.Columns {
		names[i] = c.Name
	}
	if !st.checked {
		return connectors.Fatal(fmt.Errorf("%w: table %s has no column %q (its columns: %v); fix tables.columns in the source config", ErrConfig, src.ID, missing, names))
	}
	s.log.Warn("redacted columns are gone from the table; nothing to redact for them", "table", src.ID, "version", src.Version, "columns", missing)
	return nil
}

// AddSchema publishes the redacted form of a new source version.
func (s *Sink) AddSchema(ctx context.Context, t *schema.Table) error {
	if s.tables == nil {
		s.tables = map[schema.TableID]*tableState{}
	}
	if err := s.check(t); err != nil {
		return err
	}
	p, err := s.build(t)
	if err != nil {
		return err
	}
	return s.publish(ctx, p)
}

// publish gives a plan's table the next version and stages it.
func (s *Sink) publish(ctx context.Context, p *plan) error {
	st := s.state(p.src.ID)
	v := max(st.maxPublished+1, 1)
	if p.pub == p.src && v != p.src.Version {
		// The numbering moved away from the source's (the rules
		// changed once): say which source version this is.
		p.pub = s.redacted(p.src, nil, nil)
		p.identity = false
	}
	if p.pub != p.src {
		p.pub.Version = v
	}
	if err := s.inner.AddSchema(ctx, p.pub); err != nil {
		return err
	}
	st.maxPublished = p.pub.Version
	st.published[p.src.Version] = p.pub
	st.plans[p.src.Version] = p
	return nil
}

// build makes the plan of a source version under the current rules. Its
// table has no version yet unless it is the source table itself.
func (s *Sink) build(src *schema.Table) (*plan, error) {
	r, ok := s.cfg.Tables[src.ID]
	if !ok || len(r.Exclude)+len(r.Hash) == 0 {
		return &plan{src: src, pub: src, identity: true}, nil
	}
	var excluded, hashed []string
	for _, c := range src.Columns {
		switch {
		case slices.Contains(r.Exclude, c.Name):
			if slices.Contains(src.Key, c.Name) {
				return nil, connectors.Fatal(fmt.Errorf("%w: column %s.%s is in the table's key %v and cannot be excluded; hash it instead, or set tables.keys to other columns", ErrConfig, src.ID, c.Name, src.Key))
			}
			excluded = append(excluded, c.Name)
		case slices.Contains(r.Hash, c.Name):
			hashed = append(hashed, c.Name)
		}
	}
	p := &plan{src: src}
	if len(excluded)+len(hashed) == 0 {
		p.pub, p.identity = src, true
		return p, nil
	}
	p.pub = s.redacted(src, excluded, hashed)
	for i, c := range src.Columns {
		switch {
		case slices.Contains(excluded, c.Name):
		default:
			p.from = append(p.from, i)
			p.hash = append(p.hash, slices.Contains(hashed, c.Name))
		}
	}
	if err := p.pub.Prepare(); err != nil {
		return nil, fmt.Errorf("redact %s: %w", src.ID, err)
	}
	return p, nil
}

// redacted returns the published form of src without the excluded columns
// and with the hashed ones as strings.
func (s *Sink) redacted(src *schema.Table, excluded, hashed []string) *schema.Table {
	pub := &schema.Table{ID: src.ID, Key: slices.Clone(src.Key), Redaction: &schema.Redaction{
		SourceVersion: src.Version, SourceColumns: slices.Clone(src.Columns), Excluded: excluded, Hashed: hashed,
	}}
	if len(hashed) > 0 {
		pub.Redaction.SaltID = s.saltID
	}
	for _, c := range src.Columns {
		switch {
		case slices.Contains(excluded, c.Name):
		case slices.Contains(hashed, c.Name):
			pub.Columns = append(pub.Columns, schema.Column{Name: c.Name, Nullable: c.Nullable,
				Type: schema.Type{Kind: schema.KindString, Native: "hmac-sha256 hex of " + nativeOf(c.Type)}})
		default:
			pub.Columns = append(pub.Columns, c)
		}
	}
	_ = pub.Prepare()
	return pub
}

func nativeOf(t schema.Type) string {
	if t.Native != "" {
		return t.Native
	}
	return t.String()
}

// planOf returns the plan of an event's source version: the one made this
// session, or one checked against what was published before. A version
// whose published form no longer matches the rules (they changed) is
// published again under a new version number.
func (s *Sink) planOf(ctx context.Context, src *schema.Table) (*plan, error) {
	if s.tables == nil {
		s.tables = map[schema.TableID]*tableState{}
	}
	st := s.state(src.ID)
	if p := st.plans[src.Version]; p != nil && (p.src == src || p.src.SameShape(src)) {
		return p, nil
	}
	if !st.checked {
		if err := s.check(src); err != nil {
			return nil, err
		}
	}
	p, err := s.build(src)
	if err != nil {
		return nil, err
	}
	if old := st.published[src.Version]; old != nil && s.reuse(p, old) {
		st.plans[src.Version] = p
		return p, nil
	}
	if st.published[src.Version] != nil {
		s.log.Info("redaction rules changed: publishing the table again under a new version", "table", src.ID, "source_version", src.Version)
	}
	if err := s.publish(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// reuse reports whether a published version is what the plan would
// publish (the same columns, the same redaction), and makes it the plan's
// table if so.
func (s *Sink) reuse(p *plan, old *schema.Table) bool {
	if old.Redaction == nil {
		return p.identity && old.Version == p.src.Version && old.SameShape(p.src)
	}
	want := p.pub
	if p.identity {
		want = s.redacted(p.src, nil, nil)
	}
	if !old.SameShape(want) || !want.Redaction.Equal(old.Redaction) || old.Prepare() != nil {
		return false
	}
	p.pub, p.identity = old, false
	return true
}

// Add stages the redacted form of an event.
func (s *Sink) Add(ctx context.Context, e *schema.Event) error {
	p, err := s.planOf(ctx, e.Table)
	if err != nil {
		return err
	}
	if p.identity {
		return s.inner.Add(ctx, e)
	}
	out := *e
	out.Table = p.pub
	if p.from == nil {
		// Nothing redacted; only the version number differs.
		return s.inner.Add(ctx, &out)
	}
	if out.Before, _, err = s.image(p, e.Before, nil); err != nil {
		return err
	}
	if out.After, out.Unchanged, err = s.image(p, e.After, e.Unchanged); err != nil {
		return err
	}
	return s.inner.Add(ctx, &out)
}

// image rewrites one row image and its unchanged marks.
func (s *Sink) image(p *plan, img []any, unchanged []bool) ([]any, []bool, error) {
	if img == nil {
		return nil, nil, nil
	}
	if len(img) != len(p.src.Columns) {
		return nil, nil, fmt.Errorf("redact %s v%d: image has %d values for %d columns", p.src.ID, p.src.Version, len(img), len(p.src.Columns))
	}
	out := make([]any, len(p.from))
	var marks []bool
	for j, i := range p.from {
		if unchanged != nil && unchanged[i] {
			if marks == nil {
				marks = make([]bool, len(p.from))
			}
			marks[j] = true
			continue // not sent: nothing to hash, and it must stay unchanged
		}
		v := img[i]
		if p.hash[j] {
			var err error
			if v, err = s.hasher.hash(p.src.Columns[i].Type, v); err != nil {
				return nil, nil, fmt.Errorf("hash %s.%s: %w", p.src.ID, p.src.Columns[i].Name, err)
			}
		}
		out[j] = v
	}
	return out, marks, nil
}

// Commit commits the inner sink. The first commit of a session logs the
// tables with rules that the reader has not shown.
func (s *Sink) Commit(ctx context.Context, checkpoint []byte) error {
	s.warnUnseen()
	return s.inner.Commit(ctx, checkpoint)
}

// CommitAsync queues a commit on the inner sink (see
// connectors.AsyncCommitter), or commits when it cannot queue.
func (s *Sink) CommitAsync(ctx context.Context, checkpoint []byte) error {
	s.warnUnseen()
	return connectors.CommitAsync(ctx, s.inner, checkpoint)
}

// warnUnseen logs, at the first commit of a session, the tables with rules
// that the reader has not shown.
func (s *Sink) warnUnseen() {
	if !s.warned {
		s.warned = true
		for id := range s.cfg.Tables {
			if s.tables[id] == nil {
				s.log.Warn("tables.columns names a table the reader has not seen (yet); check its name", "table", id)
			}
		}
	}
}

// Close closes the inner sink.
func (s *Sink) Close() { s.inner.Close() }
