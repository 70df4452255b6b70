package schema

import "slices"

// Redaction says how a published table version differs from the source's
// own version, which a reader numbers and compares against. The published
// Columns lack the Excluded columns and hold, for each Hashed column, a
// string: the hex HMAC-SHA256 of the value under a secret salt. It carries
// names and types only, never a value; consumers can read from it which
// columns are hashes.
type Redaction struct {
	// SourceVersion is the reader's version of the table this one was made
	// from. It differs from Table.Version once the redaction rules changed
	// for a table that was already published.
	SourceVersion int `json:"source_version"`
	// SourceColumns are the source version's columns, in source order.
	SourceColumns []Column `json:"source_columns"`
	// Excluded and Hashed name the columns left out and hashed.
	Excluded []string `json:"excluded,omitempty"`
	Hashed   []string `json:"hashed,omitempty"`
	// SaltID identifies the salt of the hashes (a keyed digest of a fixed
	// text, which reveals nothing of the salt), so that a changed salt is
	// a new version.
	SaltID string `json:"salt_id,omitempty"`
}

// Equal reports whether two redactions (either may be nil) are the same.
func (r *Redaction) Equal(o *Redaction) bool {
	if r == nil || o == nil {
		return r == o
	}
	return r.SourceVersion == o.SourceVersion && r.SaltID == o.SaltID &&
		slices.Equal(r.Excluded, o.Excluded) && slices.Equal(r.Hashed, o.Hashed) &&
		slices.EqualFunc(r.SourceColumns, o.SourceColumns, func(a, b Column) bool {
			return a.Name == b.Name && a.Nullable == b.Nullable && a.Type.Equal(b.Type)
		})
}

// Source returns the source's own version of a redacted table: its
// columns, key and version number. It returns t itself when t is not
// redacted.
func (t *Table) Source() *Table {
	r := t.Redaction
	if r == nil {
		return t
	}
	return &Table{ID: t.ID, Version: r.SourceVersion, Columns: slices.Clone(r.SourceColumns), Key: slices.Clone(t.Key)}
}
