package redact

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"

	"github.com/tributary-dev/tributary/schema"
)

// hasher computes the published form of hashed values. It is not safe for
// concurrent use.
type hasher struct {
	mac hash.Hash
	buf []byte
	sum []byte
}

func newHasher(salt []byte) *hasher { return &hasher{mac: hmac.New(sha256.New, salt)} }

// hash returns the lowercase hex HMAC-SHA256 of v's canonical form; nil
// stays nil.
func (h *hasher) hash(t schema.Type, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	var err error
	h.buf, err = Canonical(h.buf[:0], t, v)
	if err != nil {
		return nil, err
	}
	h.mac.Reset()
	h.mac.Write(h.buf)
	h.sum = h.mac.Sum(h.sum[:0])
	return hex.EncodeToString(h.sum), nil
}

// saltID returns a short keyed digest of a fixed text: it tells two salts
// apart without revealing either.
func (h *hasher) saltID() string {
	h.mac.Reset()
	h.mac.Write([]byte("tributary salt id"))
	return hex.EncodeToString(h.mac.Sum(nil)[:8])
}

// Canonical appends the bytes a hashed value is hashed as: a string's
// UTF-8 text (string, decimal, json, enum, set, uuid, and the other kinds
// held as Go strings), the raw bytes of a bytes or geometry value (not
// base64), and for every other kind the value's JSON form in the Kafka
// envelope with the quotes of a JSON string taken off: an integer's
// decimal digits, "true", a timestamptz's ISO-8601 text, an array's JSON
// text. So HMAC-SHA256(salt, "ann@example.com") is the hash of that email
// wherever it appears, which lets hashed columns be joined.
func Canonical(b []byte, t schema.Type, v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return append(b, x...), nil
	case []byte:
		return append(b, x...), nil
	}
	start := len(b)
	b, err := schema.AppendTypedValue(b, t, v)
	if err != nil {
		return b, err
	}
	if n := len(b); n-start >= 2 && b[start] == '"' && b[n-1] == '"' {
		// Only timestamptz, interval and non-finite floats are JSON
		// strings here, and none holds an escaped character.
		b = append(b[:start], b[start+1:n-1]...)
	}
	return b, nil
}
