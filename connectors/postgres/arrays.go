package postgres

import (
	"bytes"
	"fmt"
	"strings"
)

// arrayDecoder returns the decoder of an array whose elements elem
// decodes. The value is []any with a nested []any per further dimension
// and nil for NULL elements. Explicit bounds ("[0:2]={1,2,3}") are read
// and dropped: the elements are kept, their index base is not.
func arrayDecoder(elem decoder, delim byte) decoder {
	return func(b []byte) (any, error) {
		if len(b) > 0 && b[0] == '[' {
			i := bytes.IndexByte(b, '=')
			if i < 0 {
				return nil, fmt.Errorf("bad array %q", b)
			}
			b = b[i+1:]
		}
		p := arrayParser{s: b, delim: delim, elem: elem}
		v, err := p.level()
		if err == nil && p.i != len(p.s) {
			err = fmt.Errorf("trailing text")
		}
		if err != nil {
			return nil, fmt.Errorf("bad array %q: %w", b, err)
		}
		return v, nil
	}
}

type arrayParser struct {
	s     []byte
	i     int
	delim byte
	elem  decoder
	buf   []byte
}

func (p *arrayParser) skipSpace() {
	for p.i < len(p.s) && isArraySpace(p.s[p.i]) {
		p.i++
	}
}

func isArraySpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// level reads one brace-delimited dimension.
func (p *arrayParser) level() ([]any, error) {
	p.skipSpace()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, fmt.Errorf("want { at %d", p.i)
	}
	p.i++
	out := []any{}
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return out, nil
	}
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated")
		}
		var (
			v   any
			err error
		)
		switch p.s[p.i] {
		case '{':
			v, err = p.level()
		case '"':
			v, err = p.quoted()
		default:
			v, err = p.bare()
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("unterminated")
		}
		switch c := p.s[p.i]; {
		case c == '}':
			p.i++
			return out, nil
		case c == p.delim:
			p.i++
		default:
			return nil, fmt.Errorf("unexpected %q at %d", c, p.i)
		}
	}
}

// quoted reads a double-quoted element with backslash escapes.
func (p *arrayParser) quoted() (any, error) {
	p.i++
	p.buf = p.buf[:0]
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case '\\':
			if p.i+1 >= len(p.s) {
				return nil, fmt.Errorf("unterminated escape")
			}
			p.buf = append(p.buf, p.s[p.i+1])
			p.i += 2
		case '"':
			p.i++
			return p.elem(p.buf)
		default:
			p.buf = append(p.buf, c)
			p.i++
		}
	}
	return nil, fmt.Errorf("unterminated quote")
}

// bare reads an unquoted element; NULL in any case is a NULL element.
func (p *arrayParser) bare() (any, error) {
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != p.delim && p.s[p.i] != '}' {
		if p.s[p.i] == '{' || p.s[p.i] == '"' {
			return nil, fmt.Errorf("unexpected %q at %d", p.s[p.i], p.i)
		}
		p.i++
	}
	tok := bytes.TrimRightFunc(p.s[start:p.i], func(r rune) bool { return r < 0x80 && isArraySpace(byte(r)) })
	if len(tok) == 0 {
		return nil, fmt.Errorf("empty element at %d", start)
	}
	if bytes.EqualFold(tok, []byte("NULL")) {
		return nil, nil
	}
	return p.elem(tok)
}

// decHstore reads hstore's text form ("a"=>"1", "b"=>NULL) into a map of
// string or nil values.
func decHstore(b []byte) (any, error) {
	p := arrayParser{s: b, elem: decText}
	out := map[string]any{}
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return out, nil
		}
		k, null, err := p.hstoreToken()
		if err != nil || null {
			return nil, fmt.Errorf("bad hstore %q: key at %d", b, p.i)
		}
		p.skipSpace()
		if !bytes.HasPrefix(p.s[p.i:], []byte("=>")) {
			return nil, fmt.Errorf("bad hstore %q: want => at %d", b, p.i)
		}
		p.i += 2
		p.skipSpace()
		v, null, err := p.hstoreToken()
		if err != nil {
			return nil, fmt.Errorf("bad hstore %q: value at %d", b, p.i)
		}
		if null {
			out[k] = nil
		} else {
			out[k] = v
		}
		p.skipSpace()
		if p.i < len(p.s) {
			if p.s[p.i] != ',' {
				return nil, fmt.Errorf("bad hstore %q: want , at %d", b, p.i)
			}
			p.i++
		}
	}
}

// hstoreToken reads a quoted or bare hstore key or value.
func (p *arrayParser) hstoreToken() (string, bool, error) {
	if p.i >= len(p.s) {
		return "", false, fmt.Errorf("missing token")
	}
	if p.s[p.i] == '"' {
		v, err := p.quoted()
		if err != nil {
			return "", false, err
		}
		return v.(string), false, nil
	}
	start := p.i
	for p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '=' && !isArraySpace(p.s[p.i]) {
		p.i++
	}
	tok := string(p.s[start:p.i])
	if tok == "" {
		return "", false, fmt.Errorf("empty token")
	}
	return tok, strings.EqualFold(tok, "NULL"), nil
}
