package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tributary-dev/tributary/integration/harness"
	"github.com/tributary-dev/tributary/integration/verify"
	"github.com/tributary-dev/tributary/lake/iceberg"
)

// TestLakeOnS3 runs MariaDB -> reader -> kfake -> compactor into a lake on
// versitygw, a real S3 API server (SigV4, path-style), with the SQLite
// catalog in a local file, restarts the compactor in the middle, and checks
// every lake table against its source row by row.
func TestLakeOnS3(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	store := harness.S3T(t, harness.S3Options{})
	l := iceberg.New(iceberg.Config{
		Warehouse:  "s3://" + store.Bucket + "/warehouse",
		CatalogURI: "sqlite:" + t.TempDir() + "/catalog.db",
		S3:         iceberg.S3Config{Region: store.Region, Endpoint: store.Endpoint, PathStyle: true, AccessKeyID: store.AccessKey, SecretAccessKey: store.SecretKey},
		Logger:     testLogger(t),
		Maintain:   iceberg.MaintainConfig{SnapshotAge: time.Second, RetainSnapshots: 5},
	})
	t.Cleanup(func() { l.Close() })
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 13)
	w.seed(ctx, t, 800)
	startReader(t, m, k, "s3lake", nil)
	stop := startCompactor(t, k, l, "s3lake")
	w.run(ctx, t, 200)
	stop()
	w.run(ctx, t, 100)
	startCompactor(t, k, l, "s3lake")
	waitCaughtUp(t, m, k, "s3lake", "s3lake", 90*time.Second)
	for _, id := range shopTables("orders", "items", "kv") {
		compareLake(t, m, k, l, "s3lake", id)
	}
	if objects, err := countObjects(ctx, store); err != nil || objects == 0 {
		t.Errorf("the bucket holds %d objects (%v), want the lake's files", objects, err)
	}
}

// countObjects counts the objects in the server's bucket.
func countObjects(ctx context.Context, s *harness.S3) (int, error) {
	n := 0
	pages := s3api.NewListObjectsV2Paginator(s.Client(), &s3api.ListObjectsV2Input{Bucket: aws.String(s.Bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return n, err
		}
		n += len(page.Contents)
	}
	return n, nil
}

// TestCompactorS3TLS runs the compactor binary against versitygw over
// HTTPS signed by a private CA: with warehouse.s3.ca_file the lake equals
// the source; without it the compactor stops at once and names the key.
func TestCompactorS3TLS(t *testing.T) {
	ctx := context.Background()
	m := harness.MariaDBT(t, harness.MariaDBOptions{})
	k := harness.KafkaT(t, harness.KafkaOptions{})
	store := harness.S3T(t, harness.S3Options{TLS: true})
	execAll(t, m, shopSchema...)
	w := newWorkload(m, 17)
	w.seed(ctx, t, 300)
	startReader(t, m, k, "s3tls", nil)
	catalog := filepath.Join(t.TempDir(), "catalog.db")
	lakeYAML := func(caFile string) string {
		path := filepath.Join(t.TempDir(), "lake.yaml")
		body := fmt.Sprintf(`kafka: {brokers: [%q], group: g-%d}
warehouse:
  s3: {bucket: %s, prefix: wh, region: %s, endpoint: %q, path_style: true, access_key_id: %s, secret_access_key: %s, ca_file: %q}
catalog: {uri: "sqlite:%s"}
sources: [{topic_prefix: s3tls}]
commit: {interval: 500ms}
`, k.Addrs[0], len(caFile), store.Bucket, store.Region, store.Endpoint, store.AccessKey, store.SecretKey, caFile, catalog)
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	bad := startBinary(t, nil, "compactor", "-c", lakeYAML(""))
	select {
	case err := <-bad.done:
		bad.done <- nil
		if err == nil || !strings.Contains(bad.out.String(), "certificate") {
			t.Errorf("compactor without ca_file: %v, want a failure about the certificate:\n%s", err, bad.out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("compactor without ca_file still running after 60s:\n%s", bad.out)
	}

	p := startBinary(t, nil, "compactor", "-c", lakeYAML(store.Certs.CAFile))
	w.run(ctx, t, 150)
	waitCaughtUp(t, m, k, "s3tls", "s3tls", 90*time.Second)
	t.Setenv("AWS_CA_BUNDLE", store.Certs.CAFile)
	l := iceberg.New(iceberg.Config{
		Warehouse: "s3://" + store.Bucket + "/wh", CatalogURI: "sqlite:" + catalog,
		S3: iceberg.S3Config{Region: store.Region, Endpoint: store.Endpoint, PathStyle: true, AccessKeyID: store.AccessKey, SecretAccessKey: store.SecretKey},
	})
	t.Cleanup(func() { l.Close() })
	conn, err := m.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, id := range shopTables("orders", "items", "kv") {
		res, err := verify.WaitLake(ctx, conn, l, k.Addrs, "s3tls", "shop", id, 90*time.Second)
		if err != nil {
			t.Fatalf("%s: %v\n%s", id, err, p.out)
		}
		if !res.Equal() {
			t.Errorf("%s\n%s\n%s", res, strings.Join(res.Details, "\n"), p.out)
		}
	}
}
