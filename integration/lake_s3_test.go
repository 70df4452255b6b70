package integration

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3api "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/tributary-dev/tributary/integration/harness"
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
