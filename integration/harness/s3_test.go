package harness

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestS3 starts versitygw, writes an object through the S3 API, reads it
// back, finds it in the server's folder, and checks that a wrong secret is
// refused.
func TestS3(t *testing.T) {
	ctx := testContext(t)
	s := S3T(t, S3Options{Bucket: "bucket-one"})
	c := s.Client()
	body := []byte("hello lake")
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket-one"), Key: aws.String("a/b/c.txt"), Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("put: %v", err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket-one"), Key: aws.String("a/b/c.txt")})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body) {
		t.Errorf("read %q, want %q", got, body)
	}
	if onDisk, err := os.ReadFile(filepath.Join(s.Dir, "data", "bucket-one", "a", "b", "c.txt")); err != nil || !bytes.Equal(onDisk, body) {
		t.Errorf("object on disk: %q, %v", onDisk, err)
	}
	bad := &S3{Endpoint: s.Endpoint, Region: s.Region, AccessKey: s.AccessKey, SecretKey: "wrong"}
	_, err = bad.Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket-one"), Key: aws.String("a/b/c.txt")})
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("a wrong secret: %v, want SignatureDoesNotMatch", err)
	}
}

// TestStartS3FailsClearly checks that a missing binary is an error that
// says how to install it.
func TestStartS3FailsClearly(t *testing.T) {
	_, err := StartS3(testContext(t), S3Options{Binary: "/nonexistent/versitygw", Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "go install github.com/versity/versitygw") {
		t.Errorf("err = %v, want a hint to install versitygw", err)
	}
}
