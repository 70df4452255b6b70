package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
)

// Checkpoint reads a reader's last committed checkpoint as generic JSON, or
// nil when it has none.
func Checkpoint(ctx context.Context, brokers []string, prefix, name string) (map[string]any, error) {
	var last []byte
	err := kafka.ReadTopic(ctx, brokers, nil, kafka.CheckpointTopic(prefix), func(r *kgo.Record) error {
		if string(r.Key) == name {
			last = r.Value
		}
		return nil
	})
	if err != nil || last == nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(last, &m); err != nil {
		return nil, fmt.Errorf("decode checkpoint: %w", err)
	}
	return m, nil
}

// WaitCaughtUp waits until a MySQL reader's committed checkpoint has
// reached the server's current binlog position with every snapshot done.
func WaitCaughtUp(ctx context.Context, conn *client.Conn, brokers []string, prefix, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	why := "no checkpoint yet"
	for time.Now().Before(deadline) {
		res, err := conn.Execute("SHOW MASTER STATUS")
		if err != nil {
			return err
		}
		file, _ := res.GetString(0, 0)
		pos, _ := res.GetUint(0, 1)
		cp, err := Checkpoint(ctx, brokers, prefix, name)
		if err != nil {
			return err
		}
		if cp != nil {
			p, _ := cp["position"].(map[string]any)
			why = fmt.Sprintf("checkpoint at %v:%v, server at %s:%d", p["file"], p["pos"], file, pos)
			if p["file"] == file && p["pos"] == float64(pos) {
				pending := ""
				tables, _ := cp["tables"].(map[string]any)
				for name, st := range tables {
					if s := st.(map[string]any)["snapshot"]; s != "done" {
						pending += name + "=" + fmt.Sprint(s) + " "
					}
				}
				if pending == "" {
					return nil
				}
				why = "snapshots pending: " + pending
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("reader did not catch up in %v: %s", timeout, why)
}
