package integration

import (
	"context"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/schema"
)

// compareTable asserts that a table topic equals its source table, row by
// row, with no duplicated or reordered change, and returns the row count.
func compareTable(t *testing.T, conn *client.Conn, k *harness.Kafka, prefix string, id schema.TableID) int {
	t.Helper()
	res, err := verify.Compare(context.Background(), conn, k.Addrs, prefix, id)
	if err != nil {
		t.Fatalf("compare %s: %v", id, err)
	}
	if !res.Equal() {
		for _, d := range res.Details {
			t.Errorf("%s: %s", id, d)
		}
		t.Errorf("%s", res)
	}
	t.Logf("%s", res)
	return res.SourceRows
}

// foldTopic replays a table topic into rows.
func foldTopic(t *testing.T, k *harness.Kafka, prefix string, id schema.TableID) *verify.Topic {
	t.Helper()
	schemas, err := verify.ReadSchemas(context.Background(), k.Addrs, prefix)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := verify.Fold(context.Background(), k.Addrs, prefix, id, schemas)
	if err != nil {
		t.Fatal(err)
	}
	return topic
}

// checkpointOf reads a reader's last committed checkpoint.
func checkpointOf(t *testing.T, k *harness.Kafka, prefix, name string) map[string]any {
	t.Helper()
	cp, err := verify.Checkpoint(context.Background(), k.Addrs, prefix, name)
	if err != nil {
		t.Fatalf("read checkpoint: %v", err)
	}
	return cp
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
	if err := verify.WaitCaughtUp(context.Background(), conn, k.Addrs, prefix, name, timeout); err != nil {
		t.Fatal(err)
	}
}
