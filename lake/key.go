package lake

import (
	"fmt"
	"hash/maphash"

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

// KeyHash is a 128-bit hash of a key's encoding (KeyOf), under two random
// seeds chosen per process: what coalescing and the lake's key index hold
// instead of keys, 16 bytes without pointers (which the garbage collector
// does not scan) that hash and compare faster than strings. Two keys of
// one table share a hash with probability about n²/2^129 for n keys: nil
// in practice (for a trillion keys, about one in 10^13, with the bit HashKey sets); the seeds are
// secret, so inputs cannot be chosen to collide. Hashes are not stable
// across processes: never store one.
type KeyHash [2]uint64

var keySeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

// HashKey hashes a key's encoding. The hash is never zero (its last bit
// is set), so tables may mark empty slots with zero.
func HashKey(k string) KeyHash {
	return KeyHash{maphash.String(keySeeds[0], k), maphash.String(keySeeds[1], k) | 1}
}

// HashKeyBytes is HashKey of a key's encoding in a byte slice.
func HashKeyBytes(k []byte) KeyHash {
	return KeyHash{maphash.Bytes(keySeeds[0], k), maphash.Bytes(keySeeds[1], k) | 1}
}
