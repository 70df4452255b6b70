package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

// history is what the Kafka topics of one source say.
type history struct {
	schemas map[string]*schema.Table // SchemaKey -> version
}

func readSchemas(t *testing.T, k *harness.Kafka, prefix string) *history {
	t.Helper()
	h := &history{schemas: map[string]*schema.Table{}}
	err := kafka.ReadTopic(context.Background(), k.Addrs, nil, schema.SchemaTopic(prefix), func(r *kgo.Record) error {
		s := new(schema.Table)
		if err := json.Unmarshal(r.Value, s); err != nil {
			return err
		}
		if _, dup := h.schemas[string(r.Key)]; dup {
			return fmt.Errorf("schema %s published twice", r.Key)
		}
		h.schemas[string(r.Key)] = s
		return nil
	})
	if err != nil {
		t.Fatalf("read schemas: %v", err)
	}
	return h
}

func (h *history) lookup(id schema.TableID, v int) (*schema.Table, error) {
	if s := h.schemas[schema.SchemaKey(id, v)]; s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("no schema %s v%d", id, v)
}

// tableLog is one table topic folded into rows, with the checks that need
// the whole history.
type tableLog struct {
	rows    map[string]map[string]any // key -> column name -> value
	kinds   map[string]schema.Kind    // column name -> kind, latest seen
	changes int                       // stream changes (c/u/d)
	reads   int
	// problems found: duplicates and out-of-order changes per key.
	problems []string
}

// foldTopic reads a table topic (read_committed) and replays it per
// partition: reads, creates and updates set a row, deletes remove it, a
// truncate clears the partition. It also checks that no source change
// appears twice and that each key's changes come in source order.
func foldTopic(t *testing.T, k *harness.Kafka, prefix string, id schema.TableID, h *history) *tableLog {
	t.Helper()
	log := &tableLog{rows: map[string]map[string]any{}, kinds: map[string]schema.Kind{}}
	seen := map[string]bool{}           // gtid/row of stream changes
	lastSeq := map[string]int64{}       // key -> gtid sequence of its last change
	partRows := map[int32][]string{}    // keys per partition, for truncates
	err := kafka.ReadTopic(context.Background(), k.Addrs, nil, schema.TopicName(prefix, id), func(r *kgo.Record) error {
		if r.Value == nil {
			return nil // tombstone
		}
		env, err := schema.DecodeEnvelope(r.Value, h.lookup)
		if err != nil {
			return fmt.Errorf("offset %d: %w", r.Offset, err)
		}
		sch, _ := h.lookup(id, env.SchemaVersion)
		img := env.After
		if env.Op == schema.OpDelete {
			img = env.Before
		}
		if env.Op == schema.OpTruncate {
			for _, key := range partRows[r.Partition] {
				delete(log.rows, key)
			}
			partRows[r.Partition] = nil
			return nil
		}
		key := string(r.Key)
		if env.Op != schema.OpRead {
			log.changes++
			gtid, _ := env.Source["gtid"].(string)
			row := fmt.Sprint(env.Source["row"])
			op := env.Op.String()
			if seen[gtid+"/"+row+"/"+op+"/"+key] {
				log.problems = append(log.problems, fmt.Sprintf("change %s row %s (%s %s) appears twice", gtid, row, op, key))
			}
			seen[gtid+"/"+row+"/"+op+"/"+key] = true
			if seq := gtidSeq(gtid); seq > 0 {
				if seq < lastSeq[key] {
					log.problems = append(log.problems, fmt.Sprintf("key %s: change from gtid %s after one from seq %d", key, gtid, lastSeq[key]))
				}
				lastSeq[key] = seq
			}
		} else {
			log.reads++
		}
		if env.Op == schema.OpDelete {
			delete(log.rows, key)
			return nil
		}
		m := map[string]any{}
		for i, c := range sch.Columns {
			m[c.Name] = img[i]
			log.kinds[c.Name] = c.Type.Kind
		}
		if _, ok := log.rows[key]; !ok {
			partRows[r.Partition] = append(partRows[r.Partition], key)
		}
		log.rows[key] = m
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return log
}

func gtidSeq(g string) int64 {
	i := strings.LastIndexByte(g, '-')
	if i < 0 {
		return 0
	}
	n, _ := strconv.ParseInt(g[i+1:], 10, 64)
	return n
}

// sourceTable reads a source table as text: key -> column -> text (or nil).
func sourceTable(t *testing.T, conn *client.Conn, id schema.TableID) (map[string]map[string]any, []string, []string) {
	t.Helper()
	cols, key := sourceColumns(t, conn, id)
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = "`" + c + "`"
	}
	res, err := conn.Execute(fmt.Sprintf("SELECT %s FROM `%s`.`%s`", strings.Join(exprs, ","), id.Database, id.Name))
	if err != nil {
		t.Fatalf("select %s: %v", id, err)
	}
	out := map[string]map[string]any{}
	for i := range res.RowNumber() {
		m := map[string]any{}
		for j, c := range cols {
			if null, _ := res.IsNull(i, j); null {
				m[c] = nil
				continue
			}
			s, _ := res.GetString(i, j)
			m[c] = s
		}
		out[rowKey(m, key)] = m
	}
	return out, cols, key
}

func sourceColumns(t *testing.T, conn *client.Conn, id schema.TableID) ([]string, []string) {
	t.Helper()
	res, err := conn.Execute("SELECT COLUMN_NAME, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION", id.Database, id.Name)
	if err != nil {
		t.Fatalf("columns of %s: %v", id, err)
	}
	var cols []string
	for i := range res.RowNumber() {
		c, _ := res.GetString(i, 0)
		cols = append(cols, c)
	}
	res, err = conn.Execute("SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX", id.Database, id.Name)
	if err != nil {
		t.Fatalf("key of %s: %v", id, err)
	}
	var key []string
	for i := range res.RowNumber() {
		c, _ := res.GetString(i, 0)
		key = append(key, c)
	}
	return cols, key
}

func rowKey(m map[string]any, key []string) string {
	parts := make([]string, len(key))
	for i, k := range key {
		parts[i] = fmt.Sprint(m[k])
	}
	return strings.Join(parts, "\x00")
}

// text renders a decoded Kafka value the way MySQL's text protocol shows
// it, so that the two sides compare as strings.
func text(k schema.Kind, v any) any {
	if v == nil {
		return nil
	}
	switch k {
	case schema.KindBytes, schema.KindGeometry:
		return string(v.([]byte))
	case schema.KindDate:
		return time.Unix(int64(v.(int32))*86400, 0).UTC().Format("2006-01-02")
	case schema.KindTimestamp, schema.KindTimestampTZ:
		return time.UnixMicro(v.(int64)).UTC().Format("2006-01-02 15:04:05.999999")
	}
	return fmt.Sprint(v)
}

// normalizeTime drops trailing fractional zeros of a MySQL datetime text,
// which the text protocol pads to the column's precision.
func normalizeTime(s string) string {
	if len(s) >= 19 && s[4] == '-' && s[10] == ' ' && strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// compareTable asserts that the folded topic equals the source table, row
// by row and column by column, and that the history had no problems.
func compareTable(t *testing.T, conn *client.Conn, k *harness.Kafka, prefix string, id schema.TableID) int {
	t.Helper()
	h := readSchemas(t, k, prefix)
	log := foldTopic(t, k, prefix, id, h)
	for _, p := range log.problems {
		t.Errorf("%s: %s", id, p)
	}
	src, cols, key := sourceTable(t, conn, id)
	lake := map[string]map[string]any{}
	for _, m := range log.rows {
		conv := map[string]any{}
		for name, v := range m {
			conv[name] = text(log.kinds[name], v)
		}
		lake[rowKey(conv, key)] = conv
	}
	missing, extra, diff := 0, 0, 0
	for _, k := range slices.Sorted(maps.Keys(src)) {
		want := src[k]
		got, ok := lake[k]
		if !ok {
			if missing++; missing <= 5 {
				t.Errorf("%s: row %q is in the source but not in Kafka", id, k)
			}
			continue
		}
		for _, c := range cols {
			w, g := want[c], got[c]
			if ws, ok := w.(string); ok {
				w = normalizeTime(ws)
			}
			if gs, ok := g.(string); ok {
				g = normalizeTime(gs)
			}
			if _, has := got[c]; !has || w != g {
				if diff++; diff <= 5 {
					t.Errorf("%s: row %q column %s: source %v, kafka %v (present %v)", id, k, c, w, g, has)
				}
			}
		}
	}
	for k := range lake {
		if _, ok := src[k]; !ok {
			if extra++; extra <= 5 {
				t.Errorf("%s: row %q is in Kafka but not in the source", id, k)
			}
		}
	}
	if missing+extra+diff > 0 {
		t.Errorf("%s: %d rows in source, %d in Kafka: %d missing, %d extra, %d differing", id, len(src), len(lake), missing, extra, diff)
	}
	t.Logf("%s: %d rows equal; %d changes and %d snapshot reads in the topic", id, len(src), log.changes, log.reads)
	return len(src)
}

// checkpointOf reads a reader's last committed checkpoint.
func checkpointOf(t *testing.T, k *harness.Kafka, prefix, name string) map[string]any {
	t.Helper()
	var last []byte
	err := kafka.ReadTopic(context.Background(), k.Addrs, nil, kafka.CheckpointTopic(prefix), func(r *kgo.Record) error {
		if string(r.Key) == name {
			last = r.Value
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read checkpoint: %v", err)
	}
	if last == nil {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(last, &m); err != nil {
		t.Fatalf("decode checkpoint: %v", err)
	}
	return m
}

// waitCaughtUp waits until the reader's committed checkpoint has reached
// the server's current binlog position and every snapshot is done.
func waitCaughtUp(t *testing.T, m *harness.MariaDB, k *harness.Kafka, prefix, name string, timeout time.Duration) {
	t.Helper()
	conn, err := m.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	var why string
	for time.Now().Before(deadline) {
		res, err := conn.Execute("SHOW MASTER STATUS")
		if err != nil {
			t.Fatal(err)
		}
		file, _ := res.GetString(0, 0)
		pos, _ := res.GetUint(0, 1)
		cp := checkpointOf(t, k, prefix, name)
		why = "no checkpoint yet"
		if cp != nil {
			p := cp["position"].(map[string]any)
			why = fmt.Sprintf("checkpoint at %v:%v, server at %s:%d", p["file"], p["pos"], file, pos)
			if p["file"] == file && uint64(p["pos"].(float64)) == pos {
				pending := ""
				for name, st := range cp["tables"].(map[string]any) {
					if s := st.(map[string]any)["snapshot"]; s != "done" {
						pending += name + "=" + fmt.Sprint(s) + " "
					}
				}
				if pending == "" {
					return
				}
				why = "snapshots pending: " + pending
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("reader did not catch up in %v: %s", timeout, why)
}
