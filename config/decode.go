package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// The decoder walks the AST from goccy/go-yaml's parser into the config
// structs itself instead of calling yaml.NodeToValue with yaml.Strict(),
// because that decoder silently rewrites some values: a password written
// 0123 becomes "83" (octal), 0x1F becomes "31", 1.50 becomes "1.5" and
// a port of 3.5 becomes 3. It also stops at the first error, reports Go type
// names instead of keys, and gives no position for errors of custom types.
// Here a string takes the scalar exactly as written, a number must be a YAML
// integer, and every problem is reported with its key path and position.

// position is a line and column in a config file, both counted from 1.
type position struct{ line, col int }

// decoder holds the state of one decodeFile call.
type decoder struct {
	file      string
	env       func(string) (string, bool)
	anchors   map[string]ast.Node
	positions map[string]position // key path -> position of the key (or list item)
	errs      []error
}

var (
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	secretType          = reflect.TypeFor[Secret]()
)

// decodeFile parses data, which must hold one YAML document, into v, a
// pointer to a struct. It returns the position of every key it decoded, for
// locating later validation problems, and every decoding problem joined.
func decodeFile(name string, data []byte, v any, env func(string) (string, bool)) (map[string]position, error) {
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, syntaxError(name, err)
	}
	var docs []ast.Node
	for _, doc := range f.Docs {
		if doc.Body != nil {
			docs = append(docs, doc.Body)
		}
	}
	switch len(docs) {
	case 0:
		return nil, fmt.Errorf("%s: the file is empty; see docs/config.md for the keys", name)
	case 1:
	default:
		return nil, fmt.Errorf("%s: the file holds %d YAML documents (separated by ---); put one configuration in each file", name, len(docs))
	}
	d := &decoder{file: name, env: env, anchors: map[string]ast.Node{}, positions: map[string]position{}}
	ast.Walk(d, docs[0])
	d.decode(docs[0], reflect.ValueOf(v).Elem(), "")
	return d.positions, errors.Join(d.errs...)
}

func syntaxError(name string, err error) error {
	var ye yaml.Error
	if !errors.As(err, &ye) || ye.GetToken() == nil {
		return fmt.Errorf("%s: invalid YAML: %w", name, err)
	}
	p := ye.GetToken().Position
	msg := ye.GetMessage()
	if strings.Contains(msg, "'\t'") {
		msg += " (indent with spaces, not tabs)"
	}
	return fmt.Errorf("invalid YAML at %s:%d:%d: %s", name, p.Line, p.Column, msg)
}

// Visit records anchors, so that aliases resolve wherever they are used.
func (d *decoder) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
		d.anchors[a.Name.GetToken().Value] = a.Value
	}
	return d
}

func posOf(n ast.Node) position {
	if n == nil || n.GetToken() == nil {
		return position{}
	}
	p := n.GetToken().Position
	return position{p.Line, p.Column}
}

// fail records a problem with the value n at key path.
func (d *decoder) fail(n ast.Node, path, format string, args ...any) {
	p := posOf(n)
	msg := fmt.Sprintf(format, args...)
	if path == "" {
		d.errs = append(d.errs, fmt.Errorf("%s:%d:%d: %s", d.file, p.line, p.col, msg))
		return
	}
	d.errs = append(d.errs, fmt.Errorf("%s at %s:%d:%d: %s", path, d.file, p.line, p.col, msg))
}

// decode stores the value of node n, at key path, into v.
func (d *decoder) decode(n ast.Node, v reflect.Value, path string) {
	n = d.resolve(n, path)
	if n == nil || n.Type() == ast.NullType {
		return // absent: keep the zero value, so that the default applies
	}
	if v.Kind() != reflect.Pointer && reflect.PointerTo(v.Type()).Implements(textUnmarshalerType) {
		d.decodeText(n, v.Addr().Interface().(encoding.TextUnmarshaler), path)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, v.Elem(), path)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.String:
		d.decodeString(n, v, path)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.decodeInteger(n, v, path)
	case reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok {
			d.fail(n, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b.Value)
	default:
		d.fail(n, path, "internal error: cannot decode into %s", v.Type())
	}
}

// resolve follows tags, anchors and aliases to the node that holds the value.
func (d *decoder) resolve(n ast.Node, path string) ast.Node {
	for {
		switch t := n.(type) {
		case *ast.TagNode:
			if !strings.HasPrefix(t.Start.Value, "!!") {
				d.fail(n, path, "tag %s is not supported; remove it", t.Start.Value)
				return nil
			}
			n = t.Value
		case *ast.AnchorNode:
			n = t.Value
		case *ast.AliasNode:
			name := t.Value.GetToken().Value
			target, ok := d.anchors[name]
			if !ok {
				d.fail(n, path, "alias *%s has no anchor &%s", name, name)
				return nil
			}
			n = target
		default:
			return n
		}
	}
}

// pairs returns the entries of a mapping node, or false if n is no mapping.
func pairs(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, true
	}
	return nil, false
}

// key returns the text of a mapping key, or false after recording why it
// cannot be a key.
func (d *decoder) key(kv *ast.MappingValueNode, path string) (string, bool) {
	if _, merge := kv.Key.(*ast.MergeKeyNode); merge {
		d.fail(kv.Key, path, "merge keys (<<) are not supported; write the keys out")
		return "", false
	}
	text, ok := scalarText(d.resolve(kv.Key, path))
	if !ok {
		d.fail(kv.Key, path, "keys must be plain names, got %s", describe(kv.Key))
	}
	return text, ok
}

func (d *decoder) decodeStruct(n ast.Node, v reflect.Value, path string) {
	kvs, ok := pairs(n)
	if !ok {
		d.fail(n, path, "expected a mapping of keys, got %s", describe(n))
		return
	}
	keys := yamlKeys(v.Type())
	seen := map[string]position{}
	for _, kv := range kvs {
		name, ok := d.key(kv, path)
		if !ok || !d.firstTime(seen, name, kv.Key) {
			continue
		}
		i := indexOf(keys, name)
		if i < 0 {
			d.unknownKey(name, kv.Key, path, keys)
			continue
		}
		child := join(path, name)
		d.positions[child] = posOf(kv.Key)
		d.decode(kv.Value, v.Field(i), child)
	}
}

// firstTime records key k and reports whether it was not seen before.
func (d *decoder) firstTime(seen map[string]position, k string, n ast.Node) bool {
	p := posOf(n)
	if first, dup := seen[k]; dup {
		d.errs = append(d.errs, fmt.Errorf("duplicate key %q at %s:%d:%d; it is already set at line %d, keep one of the two",
			k, d.file, p.line, p.col, first.line))
		return false
	}
	seen[k] = p
	return true
}

func (d *decoder) unknownKey(name string, n ast.Node, path string, keys []string) {
	p := posOf(n)
	msg := fmt.Sprintf("unknown key %q at %s:%d:%d", name, d.file, p.line, p.col)
	if s := suggest(name, keys); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	} else if path == "" {
		msg += "; valid top-level keys are " + strings.Join(keys, ", ")
	} else {
		msg += fmt.Sprintf("; valid keys in %s are %s", path, strings.Join(keys, ", "))
	}
	d.errs = append(d.errs, errors.New(msg))
}

func (d *decoder) decodeSlice(n ast.Node, v reflect.Value, path string) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		d.fail(n, path, "expected a list, got %s; write [a, b] or one \"- item\" per line", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
	for i, el := range seq.Values {
		child := index(path, i)
		d.positions[child] = posOf(el)
		d.decode(el, s.Index(i), child)
	}
	v.Set(s)
}

func (d *decoder) decodeMap(n ast.Node, v reflect.Value, path string) {
	kvs, ok := pairs(n)
	if !ok {
		d.fail(n, path, "expected a mapping, got %s", describe(n))
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(kvs))
	seen := map[string]position{}
	for _, kv := range kvs {
		name, ok := d.key(kv, path)
		if !ok || !d.firstTime(seen, name, kv.Key) {
			continue
		}
		child := mapKey(path, name)
		d.positions[child] = posOf(kv.Key)
		el := reflect.New(v.Type().Elem()).Elem()
		d.decode(kv.Value, el, child)
		m.SetMapIndex(reflect.ValueOf(name).Convert(v.Type().Key()), el)
	}
	v.Set(m)
}

// decodeString stores a scalar exactly as written, after ${VAR} expansion
// and, for a Secret, reading a file: reference.
func (d *decoder) decodeString(n ast.Node, v reflect.Value, path string) {
	raw, ok := scalarText(n)
	if !ok {
		d.fail(n, path, "expected a single value, got %s", describe(n))
		return
	}
	s, err := resolveString(raw, v.Type() == secretType, d.env)
	if err != nil {
		d.fail(n, path, "%v", err)
		return
	}
	v.SetString(s)
}

func (d *decoder) decodeInteger(n ast.Node, v reflect.Value, path string) {
	in, ok := n.(*ast.IntegerNode)
	if !ok {
		hint := ""
		if s, isStr := n.(*ast.StringNode); isStr {
			if _, err := strconv.ParseInt(s.Value, 10, 64); err == nil {
				hint = "; remove the quotes"
			}
		}
		d.fail(n, path, "expected a whole number, got %s%s", describe(n), hint)
		return
	}
	var over bool
	switch x := in.Value.(type) {
	case int64:
		if v.CanInt() {
			over = v.OverflowInt(x)
			if !over {
				v.SetInt(x)
			}
		} else {
			over = x < 0 || v.OverflowUint(uint64(x))
			if !over {
				v.SetUint(uint64(x))
			}
		}
	case uint64:
		if v.CanInt() {
			over = x > math.MaxInt64 || v.OverflowInt(int64(x))
			if !over {
				v.SetInt(int64(x))
			}
		} else {
			over = v.OverflowUint(x)
			if !over {
				v.SetUint(x)
			}
		}
	}
	if over {
		lo, hi := intRange(v)
		d.fail(n, path, "%s is out of range; use a number from %s to %s", in.GetToken().Value, lo, hi)
	}
}

func intRange(v reflect.Value) (lo, hi string) {
	bits := v.Type().Bits()
	if v.CanInt() {
		return strconv.FormatInt(math.MinInt64>>(64-bits), 10), strconv.FormatInt(math.MaxInt64>>(64-bits), 10)
	}
	return "0", strconv.FormatUint(math.MaxUint64>>(64-bits), 10)
}

func (d *decoder) decodeText(n ast.Node, u encoding.TextUnmarshaler, path string) {
	text, ok := scalarText(n)
	if !ok {
		d.fail(n, path, "expected a single value, got %s", describe(n))
		return
	}
	if err := u.UnmarshalText([]byte(text)); err != nil {
		d.fail(n, path, "%v", err)
	}
}

// scalarText returns a scalar's text as written (without quotes), or false
// if n is not a scalar.
func scalarText(n ast.Node) (string, bool) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, true
	case *ast.LiteralNode:
		if n.Value == nil {
			return "", true
		}
		return n.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	}
	return "", false
}

// describe names a value for "expected X, got Y" messages.
func describe(n ast.Node) string {
	switch n := n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode:
		return strconv.Quote(n.Value)
	}
	if s, ok := scalarText(n); ok {
		return s
	}
	return n.Type().String()
}

// yamlKeys returns the yaml key of each field of struct type t, by field index.
func yamlKeys(t reflect.Type) []string {
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i], _, _ = strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
	}
	return keys
}

func indexOf(keys []string, k string) int {
	for i, s := range keys {
		if s == k {
			return i
		}
	}
	return -1
}

// suggest returns the candidate closest to s by edit distance, ignoring
// case, if it is close enough to be a likely typo, else "".
func suggest(s string, candidates []string) string {
	best, bestDist := "", math.MaxInt
	for _, c := range candidates {
		if dist := editDistance(strings.ToLower(s), strings.ToLower(c)); dist < bestDist {
			best, bestDist = c, dist
		}
	}
	if bestDist <= max(1, min(len(s), len(best))/3) {
		return best
	}
	return ""
}

// editDistance is the optimal string alignment distance between a and b,
// in bytes: Levenshtein's insertions, deletions and substitutions, plus
// the swap of two adjacent bytes ("kafak" for "kafka"), each costing one.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
