package iceberg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"

	icebergio "github.com/apache/iceberg-go/io"
)

// Check verifies, without changing any table, that the catalog answers and
// that the warehouse takes writes: it lists the catalog's namespaces, then
// writes and removes a small probe file under the warehouse. Its error
// says what is wrong and which config key to fix. A compactor calls it
// before it joins its group, so that a wrong key or a missing bucket stops
// it at once instead of failing every session.
func (l *Lake) Check(ctx context.Context) error {
	cat, err := l.catalog(ctx)
	if err != nil {
		return l.catalogProblem(err)
	}
	if _, err := cat.ListNamespaces(ctx, nil); err != nil {
		return l.catalogProblem(err)
	}
	return l.probeWarehouse(l.withStorage(ctx))
}

// catalogProblem explains a catalog that cannot be opened. The URI is a
// secret (it may hold a password), so only a SQLite path is quoted.
func (l *Lake) catalogProblem(err error) error {
	uri := l.cfg.CatalogURI
	switch {
	case l.cfg.Glue != nil:
		return l.glueProblem(err)
	case l.cfg.REST != nil:
		return l.restProblem(err)
	case uri == "" && !l.isS3():
		return fmt.Errorf("lake catalog: cannot open the SQLite catalog inside warehouse %s: %w; fix warehouse.path (a folder this user may write) or set catalog.uri", l.cfg.Warehouse, err)
	case strings.HasPrefix(uri, "sqlite:"):
		return fmt.Errorf("lake catalog: cannot open the SQLite catalog %s: %w; fix catalog.uri (sqlite:/path/to/catalog.db, in a folder this user may write)", strings.TrimPrefix(uri, "sqlite:"), err)
	}
	return fmt.Errorf("lake catalog: the catalog database does not answer: %w; check catalog.uri (host, port, user, password, database) and that the database is running", err)
}

// probeWarehouse writes and removes one small file under the warehouse.
func (l *Lake) probeWarehouse(ctx context.Context) error {
	where := l.warehouseURI()
	fs, err := icebergio.LoadFS(ctx, l.ioProps(), where)
	if err != nil {
		return l.storageProblem(err)
	}
	wfs, ok := fs.(icebergio.WriteFileIO)
	if !ok {
		return fmt.Errorf("lake warehouse %s is read-only storage", l.cfg.Warehouse)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	probe := where + "/.tributary-probe-" + hex.EncodeToString(id[:])
	f, err := wfs.Create(probe)
	if err != nil {
		return l.storageProblem(err)
	}
	_, werr := f.Write([]byte("tributary write probe; safe to delete\n"))
	if err := errors.Join(werr, f.Close()); err != nil {
		return l.storageProblem(err)
	}
	if err := fs.Remove(probe); err != nil {
		return l.storageProblem(fmt.Errorf("remove probe file: %w", err))
	}
	return nil
}

// storageProblem explains a warehouse that does not take a write.
func (l *Lake) storageProblem(err error) error {
	if !l.isS3() {
		return fmt.Errorf("lake warehouse %s: cannot write: %w; fix warehouse.path (a folder this user may write)", l.cfg.Warehouse, err)
	}
	bucket, _, _ := strings.Cut(strings.TrimPrefix(l.cfg.Warehouse, "s3://"), "/")
	msg := err.Error()
	var ne net.Error
	switch {
	case strings.Contains(msg, "NoSuchBucket"):
		return fmt.Errorf("lake warehouse %s: bucket %q does not exist; create it or fix warehouse.s3.bucket (and warehouse.s3.region)", l.cfg.Warehouse, bucket)
	case strings.Contains(msg, "InvalidAccessKeyId"), strings.Contains(msg, "SignatureDoesNotMatch"),
		strings.Contains(msg, "AccessDenied"), strings.Contains(msg, "StatusCode: 403"), strings.Contains(strings.ToLower(msg), "access key"):
		return fmt.Errorf("lake warehouse %s: access denied: %w; check warehouse.s3.access_key_id and warehouse.s3.secret_access_key, and that they may put and delete objects in bucket %q", l.cfg.Warehouse, err, bucket)
	case errors.As(err, &ne), strings.Contains(msg, "connection refused"), strings.Contains(msg, "no such host"):
		return fmt.Errorf("lake warehouse %s: cannot reach the S3 endpoint: %w; check warehouse.s3.endpoint (and that the store is running)", l.cfg.Warehouse, err)
	}
	return fmt.Errorf("lake warehouse %s: cannot write a probe file: %w; check warehouse.s3 (bucket, region, endpoint, credentials)", l.cfg.Warehouse, err)
}
