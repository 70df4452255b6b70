package integration

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/lake/iceberg"
	"github.com/tributary-dev/tributary/schema"
)

// restLake returns a lake over a local warehouse whose tables live in the
// REST catalog server rc, authenticated with OAuth2 client credentials.
func restLake(t *testing.T, rc *harness.RESTCatalog, dir, secret string) *iceberg.Lake {
	l := iceberg.New(iceberg.Config{
		Warehouse: dir,
		REST:      &iceberg.RESTConfig{URI: rc.URL, Warehouse: "lake", ClientID: "tributary", ClientSecret: secret, Scope: "catalog"},
		Logger:    testLogger(t),
		Maintain:  iceberg.MaintainConfig{SnapshotAge: time.Second, RetainSnapshots: 5},
	})
	t.Cleanup(func() { l.Close() })
	return l
}

// startRESTCatalog starts the REST catalog server (ours, written for the
// tests, see harness.RESTCatalog) over a local warehouse.
func startRESTCatalog(t *testing.T) (*harness.RESTCatalog, string) {
	dir := t.TempDir()
	rc := harness.RESTCatalogT(t, harness.RESTCatalogOptions{
		Warehouse: "file://" + filepath.ToSlash(dir), WarehouseName: "lake", Prefix: "lake",
		ClientID: "tributary", ClientSecret: "s3cr3t",
	})
	return rc, dir
}

// TestLakeOnREST runs MariaDB -> reader -> kfake -> compactor with the
// REST catalog (an Iceberg REST server over HTTP, OAuth2 client
// credentials, a prefix from /v1/config), restarts the compactor in the
// middle, and checks every lake table against its source row by row.
func TestLakeOnREST(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	rc, dir := startRESTCatalog(t)
	l := restLake(t, rc, dir, "s3cr3t")
	if err := l.Check(ctx); err != nil {
		t.Fatal(err)
	}
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 17)
	w.seed(ctx, t, 800)
	startReader(t, m, k, "restlake", nil)
	stop := startCompactor(t, k, l, "restlake")
	w.run(ctx, t, 200)
	execAll(t, m, "UPDATE shop.orders SET created = created + INTERVAL 2 DAY WHERE id % 4 = 0")
	stop()
	w.run(ctx, t, 100)
	execAll(t, m, "ALTER TABLE shop.orders ADD COLUMN tag VARCHAR(20) NOT NULL DEFAULT 'x'")
	startCompactor(t, k, l, "restlake")
	w.run(ctx, t, 100)
	waitCaughtUp(t, m, k, "restlake", "restlake", 90*time.Second)
	for _, id := range shopTables("orders", "items", "kv") {
		compareLake(t, m, k, l, "restlake", id)
	}
	commits, conflicts, tokens := rc.Commits()
	t.Logf("rest catalog: %d commits, %d refused with 409, %d tokens issued", commits, conflicts, tokens)
	if commits == 0 || tokens == 0 {
		t.Errorf("the REST server saw %d commits and issued %d tokens; the lake did not go through it", commits, tokens)
	}
}

// conflictTable is a one-column table for the conflict test.
func conflictTable(t *testing.T) *schema.Table {
	s := &schema.Table{
		ID:      schema.TableID{Database: "race", Name: "t"},
		Version: 1,
		Columns: []schema.Column{{Name: "id", Type: schema.Type{Kind: schema.KindInt64}}, {Name: "v", Type: schema.Type{Kind: schema.KindString}, Nullable: true}},
		Key:     []string{"id"},
	}
	if err := s.Prepare(); err != nil {
		t.Fatal(err)
	}
	return s
}

func oneRow(t *testing.T, s *schema.Table, offset int64, id int64, v string) *lake.Batch {
	row := []any{id, v}
	key, err := lake.KeyOf(s, row)
	if err != nil {
		t.Fatal(err)
	}
	return &lake.Batch{Table: s, Checkpoint: lake.Checkpoint{Topic: "race", Offsets: map[int32]int64{0: offset}},
		Changes: []lake.Change{{Key: key, Row: row, Meta: lake.RowMeta{Op: schema.OpUpdate, CommitTime: time.Now(), Position: "0-1-1#0"}}}}
}

// TestRESTConflict has two compactors' lakes write one table through the
// REST server: the second writer's commit is refused with 409
// CommitFailedException, which must reach the compactor as
// lake.ErrConflict (reload and replan), and after a refresh it commits.
// It also checks what Check says about wrong credentials and a server
// that does not answer.
func TestRESTConflict(t *testing.T) {
	ctx := context.Background()
	rc, dir := startRESTCatalog(t)
	s := conflictTable(t)
	cfg := lake.TableConfig{Namespace: "race", Name: "t"}
	a, err := restLake(t, rc, dir, "s3cr3t").Open(ctx, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := restLake(t, rc, dir, "s3cr3t").Open(ctx, s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Apply(ctx, oneRow(t, s, 1, 1, "a")); err != nil {
		t.Fatal(err)
	}
	_, err = b.Apply(ctx, oneRow(t, s, 2, 1, "b"))
	if !errors.Is(err, lake.ErrConflict) {
		t.Fatalf("second writer: got %v, want lake.ErrConflict", err)
	}
	if _, conflicts, _ := rc.Commits(); conflicts == 0 {
		t.Errorf("the server refused no commit with 409")
	}
	if err := b.(interface{ Refresh(context.Context) error }).Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if cp := b.Checkpoint(); cp.Offsets[0] != 1 {
		t.Errorf("refreshed checkpoint %+v, want the first writer's offset 1", cp)
	}
	if _, err := b.Apply(ctx, oneRow(t, s, 2, 1, "b")); err != nil {
		t.Fatalf("after refresh: %v", err)
	}

	err = restLake(t, rc, dir, "wrong-secret").Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "refuses the credentials") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("wrong secret: got %v, want a refusal that does not show the secret", err)
	}
	l := iceberg.New(iceberg.Config{Warehouse: dir, REST: &iceberg.RESTConfig{URI: "http://127.0.0.1:1/api", Token: "tok"}})
	defer l.Close()
	if err := l.Check(ctx); err == nil || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), "catalog.uri") {
		t.Errorf("unreachable: got %v", err)
	}
}
