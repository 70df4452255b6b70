package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/tributary-dev/tributary/integration/harness"
)

// TestCheck runs Check against a server with one problem of each kind,
// then against a setup that is fine; Check must change nothing.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	p := harness.PostgresT(t, harness.PostgresOptions{})
	if err := p.Exec(ctx, `CREATE TABLE c_nokey (v text); ALTER TABLE c_nokey OWNER TO tributary;
		CREATE TABLE c_nothing (id int PRIMARY KEY); ALTER TABLE c_nothing REPLICA IDENTITY NOTHING;
		CREATE TABLE c_foreign (id int PRIMARY KEY);
		CREATE TABLE c_ok (id int PRIMARY KEY); ALTER TABLE c_ok OWNER TO tributary;
		CREATE PUBLICATION tributary_check FOR TABLE c_ok;
		CREATE TABLE ok_only (id int PRIMARY KEY); ALTER TABLE ok_only OWNER TO tributary`); err != nil {
		t.Fatal(err)
	}
	if err := p.Exec(ctx, `SELECT pg_create_logical_replication_slot('tributary_check', 'test_decoding')`); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(p, "check")
	cfg.Include = func(s, table string) bool { return strings.HasPrefix(table, "c_") }
	probs, err := NewSource(cfg).Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, pr := range probs {
		all = append(all, pr.String())
	}
	text := strings.Join(all, "\n")
	for _, want := range []string{
		"table public.c_nokey has no primary key",
		`ALTER TABLE "public"."c_nothing" REPLICA IDENTITY DEFAULT;`,
		"publish_via_partition_root = true",
		`ALTER PUBLICATION "tributary_check" ADD TABLE "public"."c_foreign";`,
		"uses the output plugin test_decoding",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Check does not say %q; it said:\n%s", want, text)
		}
	}
	if strings.Contains(text, "c_ok") {
		t.Errorf("Check reports the table that is fine:\n%s", text)
	}
	// A setup the reader can start on: no problems, and nothing created.
	cfg = testConfig(p, "fine")
	cfg.Include = func(s, table string) bool { return table == "ok_only" }
	if probs, err := NewSource(cfg).Check(ctx); err != nil || len(probs) != 0 {
		t.Errorf("Check = %v, %v; want no problems", probs, err)
	}
	conn, err := p.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_publication WHERE pubname = 'tributary_fine'").Scan(&n); err != nil || n != 0 {
		t.Errorf("Check created a publication (%d, %v)", n, err)
	}
}
