package integration

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/schema"
)

// myBigTx is the size of the MariaDB large-transaction test: rows, and
// 32-byte md5 strings per row's payload. 100,000 rows of 96 bytes by
// default; TRIBUTARY_MY_BIG_TX_ROWS=1000000 TRIBUTARY_MY_BIG_TX_WIDTH=60
// for a transaction of about 2 GB of binlog.
func myBigTx() (rows, width int) {
	rows, width = 100_000, 3
	if n, err := strconv.Atoi(os.Getenv("TRIBUTARY_MY_BIG_TX_ROWS")); err == nil && n > 0 {
		rows = n
	}
	if n, err := strconv.Atoi(os.Getenv("TRIBUTARY_MY_BIG_TX_WIDTH")); err == nil && n > 0 {
		width = n
	}
	return rows, width
}

// TestMySQLLargeTransaction runs one large transaction (inserts, updates
// and deletes) through the reader process: its memory stays bounded (it
// publishes the transaction in Kafka transactions of
// split_transaction_rows rows, never holding it whole), and the topic
// equals the table row by row.
func TestMySQLLargeTransaction(t *testing.T) {
	ctx := context.Background()
	n, width := myBigTx()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	execAll(t, m, "CREATE DATABASE IF NOT EXISTS shop",
		"CREATE TABLE shop.big (id BIGINT NOT NULL PRIMARY KEY, payload LONGTEXT NOT NULL, n INT NOT NULL)",
		"INSERT INTO shop.big VALUES (1, 'before', 0)")
	cfg := readerConfig(t, m, k, "mybig", "  split_transaction_rows: 25000\n")
	p := startReaderProcess(t, cfg, m.Password)
	waitCaughtUp(t, m, k, "mybig", "mybig", 60*time.Second)

	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	for _, q := range []string{
		"BEGIN",
		fmt.Sprintf("INSERT INTO shop.big SELECT seq, REPEAT(MD5(seq), %d), 4 FROM shop.seq_2_to_%d", width, n+1),
		"UPDATE shop.big SET n = 5 WHERE id % 10 = 0",
		"DELETE FROM shop.big WHERE id % 97 = 0",
		"COMMIT",
	} {
		if _, err := conn.Execute(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	var binlog int64
	if res, err := conn.Execute("SHOW BINARY LOGS"); err == nil {
		for i := range res.RowNumber() {
			size, _ := res.GetInt(i, 1)
			binlog += size
		}
	}
	t.Logf("transaction of %d rows (%d-byte payloads) committed in %v; binlogs hold %.1f MiB", n, 32*width, time.Since(start).Round(time.Millisecond), float64(binlog)/(1<<20))
	waitCaughtUp(t, m, k, "mybig", "mybig", time.Duration(60+n/5000)*time.Second)
	rss := peakRSS(p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code, out := waitExit(t, p); code != 0 {
		t.Errorf("reader exit code %d on SIGTERM:\n%s", code, out)
	}
	t.Logf("reader peak RSS %.1f MiB over a %d-row transaction", float64(rss)/(1<<20), n)
	if rss == 0 {
		t.Error("the reader's peak RSS could not be read from /proc")
	} else if rss > 256<<20 {
		t.Errorf("reader peak RSS %d MiB, want under 256 MiB", rss>>20)
	}
	compareTable(t, conn, k, "mybig", schema.TableID{Database: "shop", Name: "big"})
}
