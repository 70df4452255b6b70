package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/connectors/mysql"
	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/schema"
)

var demoSchema = []string{
	"CREATE DATABASE shop",
	`CREATE TABLE shop.customers (id INT PRIMARY KEY, name VARCHAR(80) NOT NULL, country CHAR(2), created DATETIME(3) NOT NULL)`,
	`CREATE TABLE shop.orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, amount DECIMAL(12,2) NOT NULL,
		status ENUM('new','paid','shipped','cancelled') NOT NULL DEFAULT 'new', placed TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))`,
}

// cmdDemo runs the reader on embedded defaults: a MariaDB sandbox, an
// in-process Kafka broker, a sample workload, then prints change events
// and shows that every topic equals its source table.
func cmdDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 5000, "rows to seed before the reader starts")
	txns := fs.Int("transactions", 2000, "workload transactions while the reader runs")
	verbose := fs.Bool("v", false, "log the reader's messages")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signalContext(log)
	defer stop()
	if err := demo(ctx, stdout, log, *rows, *txns); err != nil {
		fmt.Fprintf(stderr, "tributary demo: %v\n", err)
		return exitError
	}
	return exitOK
}

func demo(ctx context.Context, out io.Writer, log *slog.Logger, rows, txns int) error {
	step := func(format string, args ...any) { fmt.Fprintf(out, "==> "+format+"\n", args...) }
	step("starting a MariaDB sandbox (binlog ROW, FULL image, GTID) and an in-process Kafka broker")
	db, err := harness.StartMariaDB(ctx, harness.MariaDBOptions{Logger: log})
	if err != nil {
		return err
	}
	defer db.Close()
	broker, err := harness.StartKafka(harness.KafkaOptions{Logger: log})
	if err != nil {
		return err
	}
	defer broker.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	for _, q := range demoSchema {
		if _, err := conn.Execute(q); err != nil {
			return fmt.Errorf("create schema: %w", err)
		}
	}
	step("seeding %d customers and orders", rows)
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 1; i <= rows; i++ {
		if _, err := conn.Execute("INSERT INTO shop.customers VALUES (?, ?, ?, NOW(3))", i, fmt.Sprintf("customer %d", i), []string{"DE", "FR", "JP", "BR"}[i%4]); err != nil {
			return err
		}
		if _, err := conn.Execute("INSERT INTO shop.orders (customer_id, amount) VALUES (?, ?)", i, fmt.Sprintf("%d.%02d", rnd.IntN(500), rnd.IntN(100))); err != nil {
			return err
		}
	}
	step("starting the reader: snapshot of shop.*, then the binlog, into Kafka")
	src := mysql.NewSource(mysql.Config{Name: "demo", Addr: db.Addr(), User: db.User, Password: db.Password, ServerID: 4242,
		Include: func(d, _ string) bool { return d == "shop" }, HeartbeatInterval: time.Second, Logger: log})
	sink := kafka.NewPublisher(kafka.PublisherConfig{Brokers: broker.Addrs, TopicPrefix: "demo", CheckpointKey: "demo", Logger: log})
	rctx, stopReader := context.WithCancel(ctx)
	defer stopReader()
	done := make(chan error, 1)
	go func() { done <- src.Run(rctx, sink) }()
	step("running %d transactions: inserts, updates, primary-key changes, deletes", txns)
	for range txns {
		if err := demoTxn(conn, rnd, rows); err != nil {
			return err
		}
	}
	step("altering shop.customers mid-stream (ADD COLUMN with a default)")
	if _, err := conn.Execute("ALTER TABLE shop.customers ADD COLUMN tier VARCHAR(10) NOT NULL DEFAULT 'basic'"); err != nil {
		return err
	}
	if _, err := conn.Execute("UPDATE shop.customers SET tier = 'gold' WHERE id % 10 = 0"); err != nil {
		return err
	}
	step("waiting for the reader to catch up with the binlog")
	if err := verify.WaitCaughtUp(ctx, conn, broker.Addrs, "demo", "demo", 2*time.Minute); err != nil {
		return err
	}
	stopReader()
	if err := <-done; err != nil {
		return fmt.Errorf("reader: %w", err)
	}
	if err := printSample(ctx, out, broker.Addrs); err != nil {
		return err
	}
	step("source tables vs Kafka topics (rows replayed per key, compared column by column)")
	fmt.Fprintf(out, "%-16s %10s %18s %10s %18s  %s\n", "table", "source", "source checksum", "kafka", "kafka checksum", "result")
	ok := true
	for _, name := range []string{"customers", "orders"} {
		res, err := verify.Compare(ctx, conn, broker.Addrs, "demo", schema.TableID{Database: "shop", Name: name})
		if err != nil {
			return err
		}
		verdict := "EQUAL"
		if !res.Equal() {
			verdict, ok = "DIFFERENT", false
		}
		fmt.Fprintf(out, "%-16s %10d %18x %10d %18x  %s (%d changes, %d snapshot reads)\n", "shop."+name, res.SourceRows, res.SourceSum, res.KafkaRows, res.KafkaSum, verdict, res.Changes, res.Reads)
		for _, d := range res.Details {
			fmt.Fprintln(out, "   ", d)
		}
	}
	if !ok {
		return fmt.Errorf("kafka differs from the source")
	}
	step("done. Against your own database: write a source config (examples/mysql.yaml) and run tributary reader -c FILE")
	return nil
}

// demoTxn runs one random transaction of the demo workload.
func demoTxn(conn *client.Conn, rnd *rand.Rand, rows int) error {
	id := 1 + rnd.IntN(rows)
	var q string
	switch rnd.IntN(6) {
	case 0, 1:
		q = fmt.Sprintf("INSERT INTO shop.orders (customer_id, amount, status) VALUES (%d, %d.%02d, 'paid')", id, rnd.IntN(900), rnd.IntN(100))
	case 2:
		q = fmt.Sprintf("UPDATE shop.orders SET status = 'shipped', amount = amount + 1 WHERE id = %d", id)
	case 3:
		q = fmt.Sprintf("UPDATE shop.customers SET id = id + %d WHERE id = %d", 10*rows, id)
	case 4:
		q = fmt.Sprintf("DELETE FROM shop.orders WHERE id = %d", id)
	default:
		q = fmt.Sprintf("UPDATE shop.customers SET name = CONCAT(name, '*'), country = 'NZ' WHERE id = %d", id)
	}
	if _, err := conn.Execute(q); err != nil {
		return fmt.Errorf("workload %q: %w", q, err)
	}
	return nil
}

// printSample prints the first change events of the orders topic.
func printSample(ctx context.Context, out io.Writer, brokers []string) error {
	fmt.Fprintln(out, "==> a few change events from topic demo.shop.orders (key, then the Debezium-style envelope):")
	n := 0
	err := kafka.ReadTopic(ctx, brokers, nil, "demo.shop.orders", func(r *kgo.Record) error {
		if r.Value == nil || n >= 4 {
			return nil
		}
		var env map[string]any
		if err := json.Unmarshal(r.Value, &env); err != nil {
			return err
		}
		if env["op"] == "r" && n > 0 {
			return nil
		}
		n++
		b, _ := json.MarshalIndent(env, "    ", "  ")
		fmt.Fprintf(out, "  key %s\n    %s\n", r.Key, b)
		return nil
	})
	return err
}
