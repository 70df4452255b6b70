package harness

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	"github.com/apache/iceberg-go/table"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// RESTCatalogOptions configures a REST catalog server.
type RESTCatalogOptions struct {
	// Dir holds the server's SQLite database; default a temp dir.
	Dir string
	// Warehouse is the root of the tables' files, a file:// or s3:// URI;
	// tables created without a location go under it.
	Warehouse string
	// Props are the SQL catalog's file IO properties (s3.* keys), for
	// the metadata files the server writes.
	Props iceberg.Properties
	// WarehouseName, when set, is the only warehouse /v1/config accepts.
	WarehouseName string
	// Prefix, when set, is returned by /v1/config and required in every
	// path after /v1.
	Prefix string
	// ClientID and ClientSecret, when set, are the OAuth2 client
	// credentials /v1/oauth/tokens accepts; every other request then
	// needs the token it issues (or Token).
	ClientID, ClientSecret string
	// Token, when set, is a bearer token every request must carry.
	Token string
}

// RESTCatalog is an Iceberg REST catalog server written for these tests,
// not a third-party one: it follows the REST catalog spec (config,
// OAuth2 client-credentials tokens, namespaces, create, load, commit and
// drop table, errors as {"error": {...}}) over iceberg-go's SQL catalog
// on SQLite, which checks a commit's requirements and makes the commit
// atomic. A failed requirement or a lost race answers 409
// CommitFailedException, as the spec says.
type RESTCatalog struct {
	// URL is the catalog's base URL (before /v1).
	URL string

	opts   RESTCatalogOptions
	cat    *sqlcat.Catalog
	db     *sql.DB
	srv    *http.Server
	ln     net.Listener
	issued sync.Map // access tokens issued by /v1/oauth/tokens

	commits, conflicts, tokens atomic.Int64
}

// StartRESTCatalog starts a REST catalog server on a free loopback port.
func StartRESTCatalog(opts RESTCatalogOptions) (*RESTCatalog, error) {
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "tributary-rest-")
		if err != nil {
			return nil, err
		}
		opts.Dir = d
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(opts.Dir, "rest-catalog.db")+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	props := iceberg.Properties{"warehouse": opts.Warehouse}
	for k, v := range opts.Props {
		props[k] = v
	}
	cat, err := sqlcat.NewCatalog("rest", db, sqlcat.SQLite, props)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("rest catalog backing store: %w", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		db.Close()
		return nil, err
	}
	r := &RESTCatalog{URL: "http://" + ln.Addr().String(), opts: opts, cat: cat, db: db, ln: ln}
	r.srv = &http.Server{Handler: r, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln) //nolint:errcheck // ends with Close
	return r, nil
}

// RESTCatalogT starts a REST catalog server for t and stops it when t ends.
func RESTCatalogT(t testing.TB, opts RESTCatalogOptions) *RESTCatalog {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	r, err := StartRESTCatalog(opts)
	if err != nil {
		t.Fatalf("start rest catalog: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Close stops the server and closes its database.
func (r *RESTCatalog) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(r.srv.Shutdown(ctx), r.db.Close())
}

// Commits returns how many table commits succeeded and how many were
// refused with 409, and how many tokens were issued.
func (r *RESTCatalog) Commits() (ok, conflicts, tokens int64) {
	return r.commits.Load(), r.conflicts.Load(), r.tokens.Load()
}

// restError is the spec's error model.
type restError struct {
	Message string `json:"message"`
	Type    string `json:"type"`
	Code    int    `json:"code"`
}

func replyError(w http.ResponseWriter, code int, typ, format string, args ...any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]restError{"error": {Message: fmt.Sprintf(format, args...), Type: typ, Code: code}})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ServeHTTP routes the spec's endpoints.
func (r *RESTCatalog) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	path, ok := strings.CutPrefix(req.URL.EscapedPath(), "/v1/")
	if !ok {
		replyError(w, http.StatusNotFound, "NoSuchEndpointException", "no route %s", req.URL.Path)
		return
	}
	switch {
	case path == "oauth/tokens" && req.Method == http.MethodPost:
		r.token(w, req)
		return
	case !r.authorized(req):
		replyError(w, http.StatusUnauthorized, "NotAuthorizedException", "missing or unknown bearer token")
		return
	case path == "config" && req.Method == http.MethodGet:
		if wh := req.URL.Query().Get("warehouse"); r.opts.WarehouseName != "" && wh != r.opts.WarehouseName {
			replyError(w, http.StatusBadRequest, "BadRequestException", "unknown warehouse %q", wh)
			return
		}
		overrides := map[string]string{}
		if r.opts.Prefix != "" {
			overrides["prefix"] = r.opts.Prefix
		}
		reply(w, map[string]any{"defaults": map[string]string{}, "overrides": overrides})
		return
	}
	if r.opts.Prefix != "" {
		if path, ok = strings.CutPrefix(path, r.opts.Prefix+"/"); !ok {
			replyError(w, http.StatusNotFound, "NoSuchEndpointException", "no route %s (prefix %s)", req.URL.Path, r.opts.Prefix)
			return
		}
	}
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	ctx := req.Context()
	switch {
	case len(parts) == 1 && parts[0] == "namespaces":
		r.namespaces(ctx, w, req)
	case len(parts) == 2 && parts[0] == "namespaces":
		r.namespace(ctx, w, req, strings.Split(parts[1], "\x1f"))
	case len(parts) == 3 && parts[0] == "namespaces" && parts[2] == "tables":
		r.tables(ctx, w, req, strings.Split(parts[1], "\x1f"))
	case len(parts) == 4 && parts[0] == "namespaces" && parts[2] == "tables":
		ident := append(strings.Split(parts[1], "\x1f"), parts[3])
		r.table(ctx, w, req, ident)
	default:
		replyError(w, http.StatusNotFound, "NoSuchEndpointException", "no route %s %s", req.Method, req.URL.Path)
	}
}

func (r *RESTCatalog) authorized(req *http.Request) bool {
	if r.opts.Token == "" && r.opts.ClientSecret == "" {
		return true
	}
	tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	if r.opts.Token != "" && tok == r.opts.Token {
		return true
	}
	_, issued := r.issued.Load(tok)
	return issued
}

// token is the OAuth2 client-credentials grant.
func (r *RESTCatalog) token(w http.ResponseWriter, req *http.Request) {
	if err := req.ParseForm(); err != nil || req.PostForm.Get("grant_type") != "client_credentials" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"client_credentials grant expected"}`))
		return
	}
	id, secret := req.PostForm.Get("client_id"), req.PostForm.Get("client_secret")
	if r.opts.ClientSecret == "" || id != r.opts.ClientID || secret != r.opts.ClientSecret {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"unknown client or wrong secret"}`))
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	r.issued.Store(tok, true)
	r.tokens.Add(1)
	reply(w, map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 3600,
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"})
}

func (r *RESTCatalog) namespaces(ctx context.Context, w http.ResponseWriter, req *http.Request) {
	switch req.Method {
	case http.MethodGet:
		nss, err := r.cat.ListNamespaces(ctx, nil)
		if err != nil {
			replyError(w, http.StatusInternalServerError, "ServiceFailureException", "%v", err)
			return
		}
		if nss == nil {
			nss = []table.Identifier{}
		}
		reply(w, map[string]any{"namespaces": nss})
	case http.MethodPost:
		var body struct {
			Namespace  table.Identifier   `json:"namespace"`
			Properties iceberg.Properties `json:"properties"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			replyError(w, http.StatusBadRequest, "BadRequestException", "%v", err)
			return
		}
		err := r.cat.CreateNamespace(ctx, body.Namespace, body.Properties)
		switch {
		case errors.Is(err, catalog.ErrNamespaceAlreadyExists):
			replyError(w, http.StatusConflict, "AlreadyExistsException", "namespace %v exists", body.Namespace)
		case err != nil:
			replyError(w, http.StatusInternalServerError, "ServiceFailureException", "%v", err)
		default:
			reply(w, map[string]any{"namespace": body.Namespace, "properties": body.Properties})
		}
	default:
		replyError(w, http.StatusMethodNotAllowed, "BadRequestException", "method %s", req.Method)
	}
}

func (r *RESTCatalog) namespace(ctx context.Context, w http.ResponseWriter, req *http.Request, ns table.Identifier) {
	props, err := r.cat.LoadNamespaceProperties(ctx, ns)
	switch {
	case errors.Is(err, catalog.ErrNoSuchNamespace):
		replyError(w, http.StatusNotFound, "NoSuchNamespaceException", "namespace %v does not exist", ns)
	case err != nil:
		replyError(w, http.StatusInternalServerError, "ServiceFailureException", "%v", err)
	case req.Method == http.MethodHead:
		w.WriteHeader(http.StatusNoContent)
	default:
		reply(w, map[string]any{"namespace": ns, "properties": props})
	}
}

func (r *RESTCatalog) tables(ctx context.Context, w http.ResponseWriter, req *http.Request, ns table.Identifier) {
	switch req.Method {
	case http.MethodGet:
		type ident struct {
			Namespace table.Identifier `json:"namespace"`
			Name      string           `json:"name"`
		}
		out := []ident{}
		for id, err := range r.cat.ListTables(ctx, ns) {
			if err != nil {
				replyError(w, http.StatusNotFound, "NoSuchNamespaceException", "%v", err)
				return
			}
			out = append(out, ident{Namespace: id[:len(id)-1], Name: id[len(id)-1]})
		}
		reply(w, map[string]any{"identifiers": out})
	case http.MethodPost:
		var body struct {
			Name          string                 `json:"name"`
			Schema        *iceberg.Schema        `json:"schema"`
			Location      string                 `json:"location"`
			PartitionSpec *iceberg.PartitionSpec `json:"partition-spec"`
			WriteOrder    *table.SortOrder       `json:"write-order"`
			StageCreate   bool                   `json:"stage-create"`
			Props         iceberg.Properties     `json:"properties"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body.Schema == nil || body.Name == "" {
			replyError(w, http.StatusBadRequest, "BadRequestException", "create table: %v", err)
			return
		}
		if body.StageCreate {
			replyError(w, http.StatusNotAcceptable, "UnsupportedOperationException", "staged create is not supported by this test server")
			return
		}
		opts := []catalog.CreateTableOpt{catalog.WithProperties(body.Props)}
		if body.Location != "" {
			opts = append(opts, catalog.WithLocation(body.Location))
		}
		if body.PartitionSpec != nil {
			opts = append(opts, catalog.WithPartitionSpec(body.PartitionSpec))
		}
		if body.WriteOrder != nil {
			opts = append(opts, catalog.WithSortOrder(*body.WriteOrder))
		}
		ident := append(append(table.Identifier{}, ns...), body.Name)
		tbl, err := r.cat.CreateTable(ctx, ident, body.Schema, opts...)
		switch {
		case errors.Is(err, catalog.ErrTableAlreadyExists):
			replyError(w, http.StatusConflict, "AlreadyExistsException", "table %v exists", ident)
		case errors.Is(err, catalog.ErrNoSuchNamespace):
			replyError(w, http.StatusNotFound, "NoSuchNamespaceException", "namespace %v does not exist", ns)
		case err != nil:
			replyError(w, http.StatusInternalServerError, "ServiceFailureException", "%v", err)
		default:
			reply(w, loadResult(tbl.MetadataLocation(), tbl.Metadata()))
		}
	default:
		replyError(w, http.StatusMethodNotAllowed, "BadRequestException", "method %s", req.Method)
	}
}

func loadResult(loc string, meta table.Metadata) map[string]any {
	return map[string]any{"metadata-location": loc, "metadata": meta, "config": map[string]string{}}
}

func (r *RESTCatalog) table(ctx context.Context, w http.ResponseWriter, req *http.Request, ident table.Identifier) {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		tbl, err := r.cat.LoadTable(ctx, ident)
		switch {
		case errors.Is(err, catalog.ErrNoSuchTable), errors.Is(err, catalog.ErrNoSuchNamespace):
			replyError(w, http.StatusNotFound, "NoSuchTableException", "table %v does not exist", ident)
		case err != nil:
			replyError(w, http.StatusInternalServerError, "ServiceFailureException", "%v", err)
		case req.Method == http.MethodHead:
			w.WriteHeader(http.StatusNoContent)
		default:
			reply(w, loadResult(tbl.MetadataLocation(), tbl.Metadata()))
		}
	case http.MethodPost:
		var body struct {
			Requirements table.Requirements `json:"requirements"`
			Updates      table.Updates      `json:"updates"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
			replyError(w, http.StatusBadRequest, "BadRequestException", "commit: %v", err)
			return
		}
		meta, loc, err := r.cat.CommitTable(ctx, ident, body.Requirements, body.Updates)
		switch {
		case errors.Is(err, table.ErrCommitFailed), err != nil && strings.Contains(err.Error(), "requirement failed"):
			r.conflicts.Add(1)
			replyError(w, http.StatusConflict, "CommitFailedException", "%v", err)
		case errors.Is(err, catalog.ErrNoSuchTable):
			replyError(w, http.StatusNotFound, "NoSuchTableException", "table %v does not exist", ident)
		case err != nil:
			replyError(w, http.StatusInternalServerError, "ServiceFailureException", "%v", err)
		default:
			r.commits.Add(1)
			reply(w, map[string]any{"metadata-location": loc, "metadata": meta})
		}
	case http.MethodDelete:
		err := r.cat.DropTable(ctx, ident)
		switch {
		case errors.Is(err, catalog.ErrNoSuchTable):
			replyError(w, http.StatusNotFound, "NoSuchTableException", "table %v does not exist", ident)
		case err != nil:
			replyError(w, http.StatusInternalServerError, "ServiceFailureException", "%v", err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	default:
		replyError(w, http.StatusMethodNotAllowed, "BadRequestException", "method %s", req.Method)
	}
}
