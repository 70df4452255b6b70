package iceberg

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/tributary-dev/tributary/lake"
)

// fakeGlue is an in-process stand-in for the AWS Glue API (the awsJson1_1
// protocol: POST / with X-Amz-Target: AWSGlue.<Operation>), holding the
// operations the Glue catalog calls. UpdateTable checks VersionId like
// Glue and answers a stale one with ConcurrentModificationException. It
// is a fake: no real Glue was reachable when this was written.
type fakeGlue struct {
	mu     sync.Mutex
	dbs    map[string]map[string]any
	tables map[string]map[string]any // "db.table" -> Table
	// beforeUpdate runs once before the next UpdateTable is served: a
	// concurrent writer that commits first.
	beforeUpdate func()
	// deny answers every call with AccessDeniedException.
	deny bool
	// calls counts the operations by name.
	calls     map[string]int
	catalogID string
}

func newFakeGlue(t *testing.T) (*fakeGlue, string) {
	g := &fakeGlue{dbs: map[string]map[string]any{}, tables: map[string]map[string]any{}, calls: map[string]int{}}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return g, srv.URL
}

func (g *fakeGlue) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.")
	if r.Method != http.MethodPost || !ok {
		glueError(w, "InvalidInputException", "not a Glue call")
		return
	}
	if !strings.Contains(r.Header.Get("Authorization"), "Credential=glue-key/") {
		glueError(w, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return
	}
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		glueError(w, "InvalidInputException", err.Error())
		return
	}
	g.mu.Lock()
	if hook := g.beforeUpdate; hook != nil && op == "UpdateTable" {
		g.beforeUpdate = nil
		g.mu.Unlock()
		hook()
		g.mu.Lock()
	}
	defer g.mu.Unlock()
	g.calls[op]++
	if id, _ := in["CatalogId"].(string); id != "" {
		g.catalogID = id
	}
	if g.deny {
		glueError(w, "AccessDeniedException", "User is not authorized to perform: glue:"+op)
		return
	}
	str := func(k string) string { s, _ := in[k].(string); return s }
	switch op {
	case "CreateDatabase":
		db, _ := in["DatabaseInput"].(map[string]any)
		name, _ := db["Name"].(string)
		if _, ok := g.dbs[name]; ok {
			glueError(w, "AlreadyExistsException", "Database already exists.")
			return
		}
		g.dbs[name] = db
		glueReply(w, map[string]any{})
	case "GetDatabase":
		db, ok := g.dbs[str("Name")]
		if !ok {
			glueError(w, "EntityNotFoundException", "Database "+str("Name")+" not found.")
			return
		}
		glueReply(w, map[string]any{"Database": db})
	case "GetDatabases":
		list := []any{}
		for _, db := range g.dbs {
			list = append(list, db)
		}
		glueReply(w, map[string]any{"DatabaseList": list})
	case "CreateTable", "UpdateTable":
		ti, _ := in["TableInput"].(map[string]any)
		name, _ := ti["Name"].(string)
		key := str("DatabaseName") + "." + name
		if _, ok := g.dbs[str("DatabaseName")]; !ok {
			glueError(w, "EntityNotFoundException", "Database "+str("DatabaseName")+" not found.")
			return
		}
		cur, exists := g.tables[key]
		switch {
		case op == "CreateTable" && exists:
			glueError(w, "AlreadyExistsException", "Table already exists.")
			return
		case op == "UpdateTable" && !exists:
			glueError(w, "EntityNotFoundException", "Table "+key+" not found.")
			return
		case op == "UpdateTable" && str("VersionId") != cur["VersionId"]:
			glueError(w, "ConcurrentModificationException", "Update table failed due to concurrent modifications.")
			return
		}
		version := 1
		if exists {
			version, _ = strconv.Atoi(cur["VersionId"].(string))
			version++
		}
		ti["DatabaseName"] = str("DatabaseName")
		ti["VersionId"] = strconv.Itoa(version)
		g.tables[key] = ti
		glueReply(w, map[string]any{})
	case "GetTable":
		tbl, ok := g.tables[str("DatabaseName")+"."+str("Name")]
		if !ok {
			glueError(w, "EntityNotFoundException", "Table "+str("Name")+" not found.")
			return
		}
		glueReply(w, map[string]any{"Table": tbl})
	case "GetTables":
		list := []any{}
		for _, tbl := range g.tables {
			if tbl["DatabaseName"] == str("DatabaseName") {
				list = append(list, tbl)
			}
		}
		glueReply(w, map[string]any{"TableList": list})
	default:
		glueError(w, "InvalidInputException", "operation "+op+" not faked")
	}
}

func glueReply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func glueError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", code)
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

// newGlueFixture returns a fixture whose tables live in a fake Glue, with
// the warehouse on an in-process S3 server.
func newGlueFixture(t *testing.T) (*fixture, *fakeGlue) {
	g, endpoint := newFakeGlue(t)
	f := &fixture{t: t, dir: t.TempDir(), src: ordersTable(1), want: model{}}
	f.cfg = lake.TableConfig{Namespace: "shop", Name: "orders", PartitionColumn: "created"}
	f.conf = Config{
		Warehouse: "s3://lake/warehouse",
		S3:        S3Config{Endpoint: fakeS3(t), Region: "us-east-1", PathStyle: true, AccessKeyID: "glue-key", SecretAccessKey: "secret"},
		Glue:      &GlueConfig{Region: "eu-west-1", CatalogID: "123456789012", Endpoint: endpoint},
	}
	f.lake = New(f.conf)
	t.Cleanup(func() { f.lake.Close() })
	return f, g
}

// TestGlueCatalog writes through the Glue catalog (a fake of the Glue API)
// and reads the table back: namespace = Glue database, commits through
// UpdateTable with the table's VersionId, the catalog id on every call.
func TestGlueCatalog(t *testing.T) {
	f, g := newGlueFixture(t)
	s := f.src
	if err := f.lake.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	tbl := f.open()
	f.apply(tbl, f.batch(upsert(s, row(1, "a", nil, 0, nil)), upsert(s, row(2, "b", nil, day, nil))))
	f.apply(tbl, f.batch(upsert(s, row(1, "a2", nil, 3*day, "moved")), del(s, 2)))
	f.check()
	g.mu.Lock()
	glueTbl := g.tables["shop.orders"]
	calls, catalogID := g.calls["UpdateTable"], g.catalogID
	g.mu.Unlock()
	params, _ := glueTbl["Parameters"].(map[string]any)
	if params["table_type"] != "ICEBERG" || !strings.HasPrefix(params["metadata_location"].(string), "s3://lake/warehouse/shop/orders/metadata/") {
		t.Errorf("glue table parameters %v: want table_type ICEBERG and the metadata under the warehouse", params)
	}
	if calls < 2 || catalogID != "123456789012" {
		t.Errorf("UpdateTable called %d times with catalog id %q; want 2+ and 123456789012", calls, catalogID)
	}
	if got := f.open().Checkpoint().Offsets[0]; got != f.next {
		t.Errorf("reopened checkpoint %d, want %d", got, f.next)
	}
}

// TestGlueConflict checks that both ways Glue reports a lost race become
// lake.ErrConflict, so the compactor reloads and replans: a stale table
// (the catalog's requirement check fails) and a concurrent UpdateTable
// (ConcurrentModificationException on the VersionId).
func TestGlueConflict(t *testing.T) {
	f, g := newGlueFixture(t)
	s := f.src
	a, b := f.open(), f.open()
	f.apply(a, f.batch(upsert(s, row(1, "a", nil, 0, nil))))
	if _, err := b.Apply(context.Background(), f.batch(upsert(s, row(1, "b", nil, 0, nil)))); !errors.Is(err, lake.ErrConflict) {
		t.Fatalf("stale writer: got %v, want ErrConflict", err)
	}
	c, d := f.open(), f.open()
	g.mu.Lock()
	g.beforeUpdate = func() { f.apply(d, f.batch(upsert(s, row(3, "d", nil, 0, nil)))) }
	g.mu.Unlock()
	_, err := c.Apply(context.Background(), f.batch(upsert(s, row(2, "c", nil, 0, nil))))
	if !errors.Is(err, lake.ErrConflict) || !strings.Contains(err.Error(), "ConcurrentModificationException") {
		t.Fatalf("writer that lost UpdateTable: got %v, want ErrConflict from ConcurrentModificationException", err)
	}
	f.check()
	if err := c.(*Table).Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.apply(c, f.batch(upsert(s, row(2, "c", nil, 0, nil))))
	f.check()
}

// TestGlueProblems checks what Check says about a Glue that refuses the
// caller, or does not answer.
func TestGlueProblems(t *testing.T) {
	f, g := newGlueFixture(t)
	g.mu.Lock()
	g.deny = true
	g.mu.Unlock()
	err := f.lake.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "denies access") || !strings.Contains(err.Error(), "glue:GetDatabase") {
		t.Errorf("denied: got %v", err)
	}
	conf := f.conf
	conf.S3.AccessKeyID = "other-key"
	l := New(conf)
	defer l.Close()
	if err := l.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "denies access") {
		t.Errorf("unknown key: got %v", err)
	}
	conf.Glue = &GlueConfig{Region: "eu-west-1", Endpoint: "http://127.0.0.1:1"}
	l = New(conf)
	defer l.Close()
	err = l.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), "does not answer") || !strings.Contains(err.Error(), "catalog.glue.endpoint") {
		t.Errorf("unreachable: got %v", err)
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("the error shows the secret key: %v", err)
	}
}
