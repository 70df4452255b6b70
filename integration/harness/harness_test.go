package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/twmb/franz-go/pkg/kgo"
)

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// mariaVars returns the named server variables, read over conn.
func mariaVars(t *testing.T, conn *client.Conn, names ...string) map[string]string {
	t.Helper()
	r, err := conn.Execute("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('" + strings.Join(names, "','") + "')")
	if err != nil {
		t.Fatalf("show variables: %v", err)
	}
	vars := map[string]string{}
	for i := range r.RowNumber() {
		name, _ := r.GetString(i, 0)
		value, _ := r.GetString(i, 1)
		vars[name] = value
	}
	return vars
}

// mariaString runs a query that returns one value.
func mariaString(t *testing.T, conn *client.Conn, query string) string {
	t.Helper()
	r, err := conn.Execute(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if r.RowNumber() != 1 {
		t.Fatalf("%s: %d rows, want 1", query, r.RowNumber())
	}
	s, err := r.GetString(0, 0)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func TestMariaDB(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	m := MariaDBT(t, MariaDBOptions{ServerID: 7})

	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"log_bin":              "ON",
		"binlog_format":        "ROW",
		"binlog_row_image":     "FULL",
		"binlog_row_metadata":  "FULL",
		"binlog_checksum":      "CRC32",
		"gtid_strict_mode":     "ON",
		"server_id":            "7",
		"character_set_server": "utf8mb4",
		"bind_address":         "127.0.0.1",
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	got := mariaVars(t, conn, names...)
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s = %q, want %q", n, got[n], w)
		}
	}
	if cs := mariaString(t, conn, "SELECT @@character_set_client"); cs != "utf8mb4" {
		t.Errorf("client character set %q, want utf8mb4", cs)
	}
	conn.Close()

	// The reader account can connect over TCP and read the binlog position.
	reader, err := m.connect(ctx, m.User, m.Password, 5*time.Second)
	if err != nil {
		t.Fatalf("reader connect: %v", err)
	}
	if _, err := reader.Execute("SHOW MASTER STATUS"); err != nil {
		t.Errorf("reader SHOW MASTER STATUS: %v", err)
	}
	reader.Close()

	if err := m.Exec(ctx, "CREATE TABLE test.t (id INT PRIMARY KEY, s VARCHAR(20))"); err != nil {
		t.Fatal(err)
	}
	if err := m.Exec(ctx, "INSERT INTO test.t VALUES (?, ?), (?, ?)", 1, "ünï 🚀", 2, "two"); err != nil {
		t.Fatal(err)
	}

	// A crash and a restart keep committed rows, the port and the binlog.
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := m.Exec(ctx, "SELECT 1"); err == nil {
		t.Fatal("exec succeeded on a killed server")
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err == nil {
		t.Error("second Start on a running server succeeded")
	}
	conn, err = m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if s := mariaString(t, conn, "SELECT s FROM test.t WHERE id = 1"); s != "ünï 🚀" {
		t.Errorf("row 1 after kill = %q", s)
	}
	if gtid := mariaString(t, conn, "SELECT @@gtid_binlog_pos"); !strings.HasPrefix(gtid, "0-7-") {
		t.Errorf("gtid_binlog_pos = %q, want 0-7-N", gtid)
	}
	conn.Close()

	// A graceful stop and a restart work too.
	if err := m.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Exec(ctx, "INSERT INTO test.t VALUES (3, 'three')"); err != nil {
		t.Fatal(err)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := m.Start(ctx); err == nil {
		t.Error("Start after Close succeeded")
	}
}

func TestMariaDBOptions(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	m := MariaDBT(t, MariaDBOptions{
		Dir:                t.TempDir(),
		NoBinlog:           true,
		MinimalRowMetadata: true,
		ExtraArgs:          []string{"--max-connections=42"},
	})
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := mariaVars(t, conn, "log_bin", "binlog_row_metadata", "server_id", "max_connections")
	want := map[string]string{"log_bin": "OFF", "binlog_row_metadata": "MINIMAL", "server_id": "1", "max_connections": "42"}
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s = %q, want %q", n, got[n], w)
		}
	}
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	p := PostgresT(t, PostgresOptions{Dir: t.TempDir(), ExtraArgs: []string{"-c", "max_wal_senders=12"}})

	conn, err := pgx.Connect(ctx, p.ConnString())
	if err != nil {
		t.Fatalf("reader connect: %v", err)
	}
	for name, want := range map[string]string{
		"wal_level":             "logical",
		"max_replication_slots": "10",
		"max_wal_senders":       "12",
		"fsync":                 "off",
		"server_encoding":       "UTF8",
		"TimeZone":              "UTC",
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatalf("setting %s: %v", name, err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	conn.Close(ctx)

	// A wrong password is refused over TCP.
	bad := strings.Replace(p.ConnString(), ":"+p.Password+"@", ":wrong@", 1)
	if c, err := pgx.Connect(ctx, bad); err == nil {
		c.Close(ctx)
		t.Error("connect with a wrong password succeeded")
	}

	// The reader role may open a logical replication connection.
	rc, err := pgconn.Connect(ctx, p.ReplicationConnString())
	if err != nil {
		t.Fatalf("replication connect: %v", err)
	}
	if _, err := rc.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll(); err != nil {
		t.Errorf("IDENTIFY_SYSTEM: %v", err)
	}
	rc.Close(ctx)

	if err := p.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, s text); INSERT INTO t VALUES (1, 'ünï 🚀')"); err != nil {
		t.Fatal(err)
	}
	if err := p.Exec(ctx, "INSERT INTO t VALUES ($1, $2)", 2, "two"); err != nil {
		t.Fatal(err)
	}

	// A crash and a restart keep committed rows.
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err = pgx.Connect(ctx, p.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var s string
	if err := conn.QueryRow(ctx, "SELECT count(*), max(s) FILTER (WHERE id = 1) FROM t").Scan(&n, &s); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if n != 2 || s != "ünï 🚀" {
		t.Errorf("after kill: %d rows, row 1 %q; want 2 rows, %q", n, s, "ünï 🚀")
	}

	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Exec(ctx, "INSERT INTO t VALUES (3, 'three')"); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestKafkaTransactions(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	k := KafkaT(t, KafkaOptions{Topics: []string{"orders"}, Partitions: 1, Dir: t.TempDir()})

	producer, err := k.Client(kgo.TransactionalID("harness-test"), kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	produceTxn := func(value string, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := producer.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := producer.ProduceSync(ctx, kgo.StringRecord(value)).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := producer.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}
	produceTxn("aborted", kgo.TryAbort)
	produceTxn("committed", kgo.TryCommit)

	// A broker with a Dir keeps its records across a restart.
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}

	consumer, err := k.Client(
		kgo.ConsumeTopics("orders"),
		kgo.ConsumerGroup("harness-group"),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []string
	for len(got) == 0 {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed: %v", err)
		}
		for _, fe := range fetches.Errors() {
			t.Fatalf("fetch %s/%d: %v", fe.Topic, fe.Partition, fe.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 1 || got[0] != "committed" {
		t.Errorf("read_committed consumer got %q, want [committed]", got)
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Errorf("commit group offsets: %v", err)
	}
}

func TestKafkaPortAndAutoCreate(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	k := KafkaT(t, KafkaOptions{Port: port, AutoCreateTopics: true, Partitions: 2})
	if k.Port != port || len(k.Addrs) != 1 || !strings.HasSuffix(k.Addrs[0], ":"+strconv.Itoa(port)) {
		t.Fatalf("port %d addrs %v, want port %d", k.Port, k.Addrs, port)
	}
	cl, err := k.Client(kgo.DefaultProduceTopic("auto"), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
		t.Fatalf("produce to an auto-created topic: %v", err)
	}
	// Without Dir a restart starts empty but on the same port.
	if err := k.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if err := k.Restart(); err == nil {
		t.Error("Restart after Close succeeded")
	}
}

func TestFreePortDistinct(t *testing.T) {
	seen := map[int]bool{}
	for range 50 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

func TestEnsureCommandsPresent(t *testing.T) {
	// Commands that exist need no apt-get run, so this is fast and works
	// as any user.
	if err := EnsureCommands(context.Background(), map[string]string{"sh": "dash", "mariadbd": "mariadb-server"}); err != nil {
		t.Fatal(err)
	}
}

func TestStartMariaDBFailsClearly(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	_, err := StartMariaDB(ctx, MariaDBOptions{ExtraArgs: []string{"--no-such-option"}})
	if err == nil {
		t.Fatal("start with a bad option succeeded")
	}
	if !strings.Contains(err.Error(), "no-such-option") || !strings.Contains(err.Error(), "apt-get install") {
		t.Errorf("error lacks the log tail or the hint: %v", err)
	}
}

func TestSweepStaleDirs(t *testing.T) {
	parent := t.TempDir()
	mk := func(name, owner string) string {
		dir := filepath.Join(parent, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if owner != "" {
			if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(owner), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	dead := mk("tributary-mariadb-1", "2147483646 1")
	reused := mk("tributary-mariadb-2", fmt.Sprintf("%d 1", os.Getpid())) // same pid, other start time
	live := mk("tributary-mariadb-3", processID(os.Getpid()))
	unowned := mk("tributary-mariadb-4", "")
	other := mk("tributary-pg-5", "2147483646 1")

	sweepStaleDirs(parent, "tributary-mariadb-", discardLogger(nil))
	for dir, wantKept := range map[string]bool{dead: false, reused: false, live: true, unowned: true, other: true} {
		_, err := os.Stat(dir)
		if kept := err == nil; kept != wantKept {
			t.Errorf("%s kept = %v, want %v", filepath.Base(dir), kept, wantKept)
		}
	}
}

// TestKafkaFromChildProcess reads the broker with kcat (librdkafka), a client
// in another process, as a reader subprocess or a test's checks would.
func TestKafkaFromChildProcess(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	if err := EnsureCommands(ctx, map[string]string{"kcat": "kcat"}); err != nil {
		t.Fatal(err)
	}
	k := KafkaT(t, KafkaOptions{Topics: []string{"events"}, Partitions: 1})
	cl, err := k.Client(kgo.TransactionalID("kcat-test"), kgo.DefaultProduceTopic("events"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.KeyStringRecord("k1", "v1"), kgo.KeyStringRecord("k2", "v2")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "kcat", "-b", k.Addrs[0], "-C", "-t", "events", "-o", "beginning", "-e", "-q",
		"-X", "isolation.level=read_committed", "-f", "%k=%s\n").CombinedOutput()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	if got := string(out); got != "k1=v1\nk2=v2\n" {
		t.Errorf("kcat read %q, want %q", got, "k1=v1\nk2=v2\n")
	}
}

// txnChildEnv makes the test binary act as a transactional producer that
// leaves a transaction open; TestKafkaFencesKilledProducer kills it.
const txnChildEnv = "HARNESS_TXN_CHILD_BROKER"

// TestKafkaTxnChild is the child half of TestKafkaFencesKilledProducer; it
// does nothing unless txnChildEnv is set.
func TestKafkaTxnChild(t *testing.T) {
	broker := os.Getenv(txnChildEnv)
	if broker == "" {
		return
	}
	ctx := testContext(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.TransactionalID("fence-test"), kgo.DefaultProduceTopic("fence"))
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("orphan")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	fmt.Println("PRODUCED")
	time.Sleep(time.Minute) // killed before this ends
}

// TestKafkaFencesKilledProducer kills -9 a producer process in the middle of
// a transaction, as the reader crash tests do, and checks that the next
// producer with the same transactional id aborts the orphan at once: a
// read_committed consumer then sees only the new producer's record.
func TestKafkaFencesKilledProducer(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	k := KafkaT(t, KafkaOptions{Topics: []string{"fence"}, Partitions: 1})

	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestKafkaTxnChild$", "-test.v")
	child.Env = append(os.Environ(), txnChildEnv+"="+k.Addrs[0])
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var out strings.Builder
	for !strings.Contains(out.String(), "PRODUCED") {
		n, err := stdout.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			t.Fatalf("child ended before producing: %v\n%s", err, out.String())
		}
	}
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	begin := time.Now()
	cl, err := k.Client(kgo.TransactionalID("fence-test"), kgo.DefaultProduceTopic("fence"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}

	consumer, err := k.Client(kgo.ConsumeTopics("fence"), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	var got []string
	for len(got) == 0 {
		fetches := consumer.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("no record consumed: %v", err)
		}
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != 1 || got[0] != "after" {
		t.Errorf("read_committed consumer got %q, want [after]", got)
	}
	t.Logf("new producer committed and was read %s after the kill", time.Since(begin).Round(time.Millisecond))
}
