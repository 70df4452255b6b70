package mysql

import (
	"fmt"
	"strconv"
	"strings"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/schema"
)

// MariaDB's UUID and INET6 columns store 16 bytes, which the binlog
// carries as they are stored; snapshots read the text MariaDB writes. Both
// give the same text here.

// storedTypes are MariaDB's data types that store a fixed number of bytes
// and look like BINARY(n) in the binlog (UUID, INET6): their neutral kind
// and their size. The binlog cannot tell them from a BINARY(n), so a
// table map's column takes the type of the same column in the version the
// reader knows from information_schema (see storedTypesFrom).
var storedTypes = map[string]struct {
	kind schema.Kind
	size int
}{
	"uuid":  {schema.KindUUID, 16},
	"inet6": {schema.KindInet, 16},
}

// storedTypesFrom gives the BINARY(n) columns of a table map that known,
// the version the reader knows, has as a stored type (UUID, INET6) their
// type: the column of the same name, or of the name a rename since gave
// it (renames maps new names, in lower case, to names in known). A
// column the version does not have, or has as another type, stays bytes.
func storedTypesFrom(cols []column, known *schema.Table, renames map[string]string) {
	if known == nil {
		return
	}
	for i := range cols {
		c := &cols[i]
		if c.Type.Kind != schema.KindBytes || c.sqlType != gomysql.MYSQL_TYPE_STRING {
			continue
		}
		name := c.Name
		if old, ok := renames[strings.ToLower(name)]; ok {
			name = old
		}
		j := known.Index(name)
		if j < 0 {
			continue
		}
		kc := known.Columns[j]
		if stored, ok := storedTypes[kc.Type.Native]; ok && stored.kind == kc.Type.Kind && stored.size == c.length {
			c.Type.Kind, c.Type.Native = stored.kind, kc.Type.Native
		}
	}
}

// storedUUID returns the text of a UUID column's stored bytes. MariaDB
// stores a UUID of version 1 to 5 and the RFC variant with its groups in
// reverse order (nnnnnnnnnnnn-vsss-Vhhh-mmmm-llllllll), so that time-based
// UUIDs sort by time, and any other as it reads; the stored form tells
// which (byte 6 holds the variant, byte 8 the version, when swapped).
func storedUUID(c *column, b []byte) (any, error) {
	if len(b) > 16 {
		return nil, fmt.Errorf("uuid of %d bytes", len(b))
	}
	var rec, u [16]byte
	copy(rec[:], b) // the binlog drops trailing zero bytes
	// MariaDB's test for a swapped record: the high bit of byte 6 set,
	// and byte 8 from 0x01 to 0x80.
	if rec[6]&0x80 != 0 && rec[8]-1 < 0x80 {
		copy(u[0:4], rec[12:16])
		copy(u[4:6], rec[10:12])
		copy(u[6:8], rec[8:10])
		copy(u[8:10], rec[6:8])
		copy(u[10:16], rec[0:6])
	} else {
		u = rec
	}
	return uuid.UUID(u).String(), nil
}

// textUUID returns a UUID as MariaDB writes it: 36 lowercase characters.
func textUUID(_ *column, v *gomysql.FieldValue) (any, error) {
	s := strings.ToLower(string(v.AsString()))
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, fmt.Errorf("uuid text %q", s)
	}
	return s, nil
}

// storedInet6 returns the text MariaDB writes for an INET6 column's stored
// bytes (the address in network order): lowercase hex groups without
// leading zeros, the longest run of zero groups (the first of equals,
// even a single one) written "::", and an IPv4-compatible (::a.b.c.d) or
// IPv4-mapped (::ffff:a.b.c.d) address with its IPv4 part in dotted form.
func storedInet6(_ *column, b []byte) (any, error) {
	if len(b) > 16 {
		return nil, fmt.Errorf("inet6 of %d bytes", len(b))
	}
	var a [16]byte
	copy(a[:], b)
	var w [8]uint16
	for i := range w {
		w[i] = uint16(a[2*i])<<8 | uint16(a[2*i+1])
	}
	gapPos, gapLen := -1, 0
	for i := 0; i < 8; {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && w[j] == 0 {
			j++
		}
		if j-i > gapLen {
			gapPos, gapLen = i, j-i
		}
		i = j
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		switch {
		case i == gapPos:
			if i == 0 {
				sb.WriteByte(':')
			}
			sb.WriteByte(':')
			i += gapLen - 1
		case i == 6 && gapPos == 0 && (gapLen == 6 || gapLen == 5 && w[5] == 0xffff):
			fmt.Fprintf(&sb, "%d.%d.%d.%d", a[12], a[13], a[14], a[15])
			return sb.String(), nil
		default:
			sb.WriteString(strconv.FormatUint(uint64(w[i]), 16))
			if i != 7 {
				sb.WriteByte(':')
			}
		}
	}
	return sb.String(), nil
}

// textInet6 returns an INET6 value as MariaDB writes it.
func textInet6(_ *column, v *gomysql.FieldValue) (any, error) {
	return string(v.AsString()), nil
}
