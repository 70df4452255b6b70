package iceberg

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/schema"
)

// appendValue appends v, a value of source type t (see schema.Kind), to a
// builder of the Arrow type IcebergType(t) maps to.
func appendValue(b array.Builder, t schema.Type, v any) error {
	if v == nil {
		b.AppendNull()
		return nil
	}
	bad := func() error { return fmt.Errorf("cannot store %s value %T in %s", t, v, b.Type()) }
	switch b := b.(type) {
	case *array.BooleanBuilder:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		b.Append(x)
	case *array.Int32Builder:
		x, ok := v.(int64)
		if !ok || x < math.MinInt32 || x > math.MaxInt32 {
			return bad()
		}
		b.Append(int32(x))
	case *array.Int64Builder:
		switch x := v.(type) {
		case int64:
			b.Append(x)
		case uint64: // bit(n), n < 64
			if x > math.MaxInt64 {
				return bad()
			}
			b.Append(int64(x))
		default:
			return bad()
		}
	case *array.Float32Builder:
		x, ok := v.(float32)
		if !ok {
			return bad()
		}
		b.Append(x)
	case *array.Float64Builder:
		x, ok := v.(float64)
		if !ok {
			return bad()
		}
		b.Append(x)
	case *array.Decimal128Builder:
		return appendDecimal(b, t, v)
	case *array.StringBuilder:
		s, err := textOf(t, v)
		if err != nil {
			return err
		}
		b.Append(s)
	case *array.BinaryBuilder:
		x, ok := v.([]byte)
		if !ok {
			return bad()
		}
		b.Append(x)
	case *array.Date32Builder:
		x, ok := v.(int32)
		if !ok {
			return bad()
		}
		b.Append(arrow.Date32(x))
	case *array.TimestampBuilder:
		x, ok := v.(int64)
		if !ok {
			return bad()
		}
		b.Append(arrow.Timestamp(x))
	case *extensions.UUIDBuilder:
		return appendUUID(b, v)
	default:
		return bad()
	}
	return nil
}

func appendUUID(b *extensions.UUIDBuilder, v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("cannot store %T in a uuid column", v)
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return fmt.Errorf("uuid %q: %w", s, err)
	}
	b.Append(u)
	return nil
}

func appendDecimal(b *array.Decimal128Builder, t schema.Type, v any) error {
	dt := b.Type().(*arrow.Decimal128Type)
	switch x := v.(type) {
	case uint64:
		b.Append(decimal128.FromU64(x))
	case string:
		if n, ok := parseSmallDecimal(x, dt.Scale); ok {
			b.Append(decimal128.FromI64(n))
			return nil
		}
		n, err := decimal128.FromString(x, dt.Precision, dt.Scale)
		if err != nil {
			return fmt.Errorf("decimal %q does not fit %s: %w", x, dt, err)
		}
		b.Append(n)
	default:
		return fmt.Errorf("cannot store %s value %T in %s", t, v, dt)
	}
	return nil
}

// parseSmallDecimal parses canonical decimal text ("-12.340") into its
// unscaled value at scale, when it has at most 18 digits and no more
// fractional digits than scale; otherwise ok is false.
func parseSmallDecimal(s string, scale int32) (n int64, ok bool) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	if s == "" || len(s) > 19 {
		return 0, false
	}
	digits, frac := 0, int32(-1)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			n = n*10 + int64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0 && i > 0 && i < len(s)-1:
			frac = 0
		default:
			return 0, false
		}
	}
	if frac < 0 {
		frac = 0
	}
	if digits > 18 || frac > scale {
		return 0, false
	}
	for ; frac < scale; frac++ {
		if n > math.MaxInt64/10 {
			return 0, false
		}
		n *= 10
	}
	if neg {
		n = -n
	}
	return n, true
}

// textOf returns the text a value of a string-stored kind is kept as.
func textOf(t schema.Type, v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case schema.Interval:
		return x.String(), nil
	}
	if t.Kind == schema.KindArray || t.Kind == schema.KindMap {
		b, err := schema.AppendTypedValue(nil, t, v)
		return string(b), err
	}
	return "", fmt.Errorf("cannot store %s value %T as text", t, v)
}

// valueAt returns row i of arr as a Go value of source type t: the inverse
// of appendValue.
// A nil arr (a column the file does not have) reads as nil.
func valueAt(arr arrow.Array, t schema.Type, i int) (any, error) {
	if arr == nil || arr.IsNull(i) {
		return nil, nil
	}
	switch a := arr.(type) {
	case *array.Boolean:
		return a.Value(i), nil
	case *array.Int32:
		return int64(a.Value(i)), nil
	case *array.Int64:
		if t.Kind == schema.KindBit {
			return uint64(a.Value(i)), nil
		}
		return a.Value(i), nil
	case *array.Float32:
		return a.Value(i), nil
	case *array.Float64:
		return a.Value(i), nil
	case *array.Decimal128:
		n := a.Value(i)
		if t.Kind == schema.KindUint64 || t.Kind == schema.KindBit {
			return n.BigInt().Uint64(), nil
		}
		return n.ToString(a.DataType().(*arrow.Decimal128Type).Scale), nil
	case *array.String:
		return fromText(t, a.Value(i))
	case *array.LargeString:
		return fromText(t, a.Value(i))
	case *array.Binary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.LargeBinary:
		return append([]byte(nil), a.Value(i)...), nil
	case *array.Date32:
		return int32(a.Value(i)), nil
	case *array.Timestamp:
		return int64(a.Value(i)), nil
	case *extensions.UUIDArray:
		return a.Value(i).String(), nil
	case *array.FixedSizeBinary:
		u, err := uuid.FromBytes(a.Value(i))
		if err != nil {
			return nil, err
		}
		return u.String(), nil
	}
	return nil, fmt.Errorf("cannot read %s from %s", t, arr.DataType())
}

func fromText(t schema.Type, s string) (any, error) {
	switch t.Kind {
	case schema.KindInterval:
		return schema.ParseInterval(s)
	case schema.KindArray, schema.KindMap:
		return schema.DecodeTypedValue(t, []byte(s))
	}
	return s, nil
}
