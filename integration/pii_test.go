package integration

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/connectors/postgres"
	"github.com/tributary-dev/tributary/connectors/redact"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

const piiSalt = "integration-test-salt-0123456789"

func piiHash(s string) string {
	mac := hmac.New(sha256.New, []byte(piiSalt))
	mac.Write([]byte(s))
	return hex.EncodeToString(mac.Sum(nil))
}

// runRedacted runs a reader into a Kafka publisher wrapped in the redact
// sink, as `tributary reader` does with tables.columns.
func runRedacted(t *testing.T, k *harness.Kafka, name string, src connectors.Source, rules map[schema.TableID]redact.Rules) func() error {
	pub := kafka.NewPublisher(kafka.PublisherConfig{Brokers: k.Addrs, TopicPrefix: name, CheckpointKey: name, Partitions: 3})
	sink, err := redact.New(pub, redact.Config{Tables: rules, Salt: []byte(piiSalt), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg     sync.WaitGroup
		runErr error
	)
	wg.Go(func() { runErr = src.Run(ctx, sink) })
	stopped := false
	stop := func() error {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// piiTopics reads every record of a source's table topic, schema topic and
// checkpoint topic; it fails the test when a raw value appears in a key
// or a value, and returns the table topic folded into its last image per
// key (unchanged columns keep their earlier value).
func piiTopics(t *testing.T, k *harness.Kafka, prefix string, id schema.TableID, raw ...string) map[string]map[string]any {
	t.Helper()
	ctx := context.Background()
	rows := map[string]map[string]any{}
	// A key change is a delete and a create at one source position; the
	// create's unchanged columns come from the deleted row, which may be
	// in another partition (as the compactor does).
	type fill struct {
		key, pos string
		cols     []string
	}
	var fills []fill
	deleted := map[string]map[string]any{}
	for _, topic := range []string{schema.TopicName(prefix, id), schema.SchemaTopic(prefix), prefix + "._checkpoints"} {
		n := 0
		err := kafka.ReadTopic(ctx, k.Addrs, nil, topic, func(r *kgo.Record) error {
			n++
			for _, s := range raw {
				if bytes.Contains(r.Key, []byte(s)) || bytes.Contains(r.Value, []byte(s)) {
					t.Errorf("topic %s offset %d holds the raw text %q: key %s value %.300s", topic, r.Offset, s, r.Key, r.Value)
				}
			}
			if topic != schema.TopicName(prefix, id) || r.Value == nil {
				return nil
			}
			var env struct {
				Op     string         `json:"op"`
				After  map[string]any `json:"after"`
				Source struct {
					Unchanged []string        `json:"unchanged"`
					LSN       json.RawMessage `json:"lsn"`
					File      string          `json:"file"`
					Pos       json.RawMessage `json:"pos"`
					Row       int             `json:"row"`
				} `json:"source"`
			}
			if err := json.Unmarshal(r.Value, &env); err != nil {
				return err
			}
			key := string(r.Key)
			pos := fmt.Sprintf("%s%s:%s#%d", env.Source.LSN, env.Source.File, env.Source.Pos, env.Source.Row)
			switch env.Op {
			case "d":
				deleted[pos] = rows[key]
				delete(rows, key)
			case "c", "r", "u":
				if env.Op == "c" && rows[key] == nil && len(env.Source.Unchanged) > 0 {
					fills = append(fills, fill{key, pos, env.Source.Unchanged})
				}
				for _, c := range env.Source.Unchanged {
					if _, sent := env.After[c]; sent {
						t.Errorf("%s: column %s is marked unchanged and sent", key, c)
					}
					env.After[c] = rows[key][c]
				}
				rows[key] = env.After
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			t.Fatalf("topic %s is empty", topic)
		}
	}
	for _, f := range fills {
		for _, c := range f.cols {
			if row := rows[f.key]; row != nil && row[c] == nil {
				row[c] = deleted[f.pos][c]
			}
		}
	}
	return rows
}

// compareRows checks the folded topic against the expected rows by key.
func compareRows(t *testing.T, got, want map[string]map[string]any) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("key %s: topic %v, want %v", k, got[k], want[k])
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("key %s is in the topic only: %v", k, got[k])
		}
	}
}

// TestPIIRedactionMariaDB snapshots and streams a MariaDB table with an
// excluded and two hashed columns, across DDL: no raw value reaches
// Kafka, and the topic holds the expected HMACs.
func TestPIIRedactionMariaDB(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m,
		"CREATE DATABASE pii",
		"CREATE TABLE pii.customers (id INT PRIMARY KEY, email VARCHAR(100), ssn VARCHAR(20), phone INT, note VARCHAR(50))",
	)
	for i := 1; i <= 40; i++ {
		execAll(t, m, fmt.Sprintf("INSERT INTO pii.customers VALUES (%d, 'cust%d@pii.example', 'SSN-%d-XYZ', %d, 'n%d')", i, i, i, 5550000+i, i))
	}
	execAll(t, m, "UPDATE pii.customers SET email = NULL, phone = NULL WHERE id = 7")
	id := schema.TableID{Database: "pii", Name: "customers"}
	src := mysql.NewSource(mysql.Config{
		Name: "piim", Addr: m.Addr(), User: m.User, Password: m.Password, ServerID: 131,
		Include:   func(db, _ string) bool { return db == "pii" },
		ChunkSize: 15, HeartbeatInterval: time.Second, Logger: testLogger(t),
	})
	stop := runRedacted(t, k, "piim", src, map[schema.TableID]redact.Rules{id: {Exclude: []string{"ssn"}, Hash: []string{"email", "phone"}}})
	waitCaughtUp(t, m, k, "piim", "piim", 90*time.Second)
	execAll(t, m,
		"INSERT INTO pii.customers VALUES (100, 'new100@pii.example', 'SSN-100-XYZ', 5550100, 'streamed')",
		"UPDATE pii.customers SET email = 'changed3@pii.example', ssn = 'SSN-3b-XYZ' WHERE id = 3",
		"UPDATE pii.customers SET id = 200 WHERE id = 4", // a key change: delete + create
		"DELETE FROM pii.customers WHERE id = 5",
		"ALTER TABLE pii.customers ADD COLUMN tier INT NOT NULL DEFAULT 1",
		"UPDATE pii.customers SET tier = 2, email = 'tier6@pii.example' WHERE id = 6",
		"ALTER TABLE pii.customers MODIFY email VARCHAR(200)",
		"INSERT INTO pii.customers VALUES (101, 'new101@pii.example', 'SSN-101-XYZ', NULL, 'after ddl', 3)",
	)
	waitCaughtUp(t, m, k, "piim", "piim", 90*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("reader: %v", err)
	}

	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	res, err := conn.Execute("SELECT id, email, phone, note, tier FROM pii.customers")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{}
	for r := range res.RowNumber() {
		idv, _ := res.GetInt(r, 0)
		row := map[string]any{"id": float64(idv), "email": nil, "phone": nil, "note": nil}
		if null, _ := res.IsNull(r, 1); !null {
			s, _ := res.GetString(r, 1)
			row["email"] = piiHash(s)
		}
		if null, _ := res.IsNull(r, 2); !null {
			n, _ := res.GetInt(r, 2)
			row["phone"] = piiHash(strconv.FormatInt(n, 10))
		}
		row["note"], _ = res.GetString(r, 3)
		tier, _ := res.GetInt(r, 4)
		row["tier"] = float64(tier)
		want[fmt.Sprintf(`{"id":%d}`, idv)] = row
	}
	got := piiTopics(t, k, "piim", id, "@pii.example", "SSN-", "ssn\":")
	// Rows not touched since the DDL have no tier in the topic.
	for key, row := range got {
		if _, ok := row["tier"]; !ok {
			row["tier"] = float64(1)
			got[key] = row
		}
	}
	compareRows(t, got, want)
}

// TestPIIRedactionPostgres does the same with PostgreSQL, where a hashed
// TOASTed column left out of an update must stay unchanged, not NULL.
func TestPIIRedactionPostgres(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, harness.PostgresOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	pgExec(t, p,
		`CREATE FUNCTION piitext(seed int) RETURNS text LANGUAGE sql AS
		$$ SELECT 'secret-bio-' || string_agg(md5((seed * 1000 + g)::text), '') FROM generate_series(1, 200) g $$`,
		"CREATE TABLE people (id int PRIMARY KEY, email text, ssn text, bio text, n int)",
		"ALTER TABLE people OWNER TO tributary",
		"INSERT INTO people SELECT g, 'p' || g || '@pii.example', 'SSN-' || g || '-XYZ', piitext(g), 0 FROM generate_series(1, 30) g",
	)
	id := schema.TableID{Database: "public", Name: "people"}
	cfg := pgReaderConfig(p, "piip")
	cfg.Logger = testLogger(t)
	stop := runRedacted(t, k, "piip", postgres.NewSource(cfg), map[schema.TableID]redact.Rules{id: {Exclude: []string{"ssn"}, Hash: []string{"email", "bio"}}})
	pgWaitCaughtUp(t, p, k, "piip", 60*time.Second)
	pgExec(t, p,
		"UPDATE people SET n = n + 1 WHERE id <= 10", // bio is TOASTed and not sent
		"UPDATE people SET email = 'changed' || id || '@pii.example', ssn = 'SSN-x-XYZ' WHERE id IN (2, 3)",
		"UPDATE people SET bio = piitext(id + 500) WHERE id = 4",
		"UPDATE people SET bio = NULL, email = NULL WHERE id = 5",
		"UPDATE people SET id = id + 100 WHERE id = 6", // key change with bio unchanged
		"DELETE FROM people WHERE id = 7",
		"ALTER TABLE people ADD COLUMN tier int",
		"UPDATE people SET tier = 2 WHERE id = 8",
		"INSERT INTO people VALUES (300, 'late@pii.example', 'SSN-300-XYZ', piitext(300), 9, 1)",
	)
	pgWaitCaughtUp(t, p, k, "piip", 60*time.Second)
	if err := stop(); err != nil {
		t.Fatalf("reader: %v", err)
	}

	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rs, err := conn.Query(ctx, "SELECT id, email, bio, n, tier FROM people")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{}
	for rs.Next() {
		var (
			idv, n     int
			email, bio *string
			tier       *int
			hashOrNil  = func(s *string) any {
				if s == nil {
					return nil
				}
				return piiHash(*s)
			}
		)
		if err := rs.Scan(&idv, &email, &bio, &n, &tier); err != nil {
			t.Fatal(err)
		}
		row := map[string]any{"id": float64(idv), "email": hashOrNil(email), "bio": hashOrNil(bio), "n": float64(n)}
		if tier != nil {
			row["tier"] = float64(*tier)
		}
		want[fmt.Sprintf(`{"id":%d}`, idv)] = row
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	got := piiTopics(t, k, "piip", id, "@pii.example", "SSN-", "secret-bio-", "ssn\":")
	for _, row := range got {
		if row["tier"] == nil {
			delete(row, "tier") // NULL, or not yet a column
		}
	}
	compareRows(t, got, want)
}
