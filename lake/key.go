package lake

import (
	"fmt"

	"github.com/tributary-dev/tributary/schema"
)

// KeyOf returns the key of a row: the JSON forms (schema.AppendTypedValue)
// of its key columns joined by commas. JSON values delimit themselves, so
// the encoding is injective; it holds no column names, so renaming a key
// column keeps keys stable. img is aligned with t.Columns; t must be
// prepared (t.KeyIndex set).
func KeyOf(t *schema.Table, img []any) (string, error) {
	b, err := AppendKey(make([]byte, 0, 24), t, img)
	return string(b), err
}

// AppendKey appends the key of a row, as KeyOf returns it, to b.
func AppendKey(b []byte, t *schema.Table, img []any) ([]byte, error) {
	if len(t.KeyIndex) == 0 {
		return b, fmt.Errorf("key of %s: table has no key columns", t.ID)
	}
	for n, i := range t.KeyIndex {
		if n > 0 {
			b = append(b, ',')
		}
		if i >= len(img) {
			return b, fmt.Errorf("key of %s: image has %d values, key column %d", t.ID, len(img), i)
		}
		if img[i] == nil {
			return b, fmt.Errorf("key of %s: key column %s is null", t.ID, t.Columns[i].Name)
		}
		var err error
		if b, err = schema.AppendTypedValue(b, t.Columns[i].Type, img[i]); err != nil {
			return b, fmt.Errorf("key of %s: %w", t.ID, err)
		}
	}
	return b, nil
}
