package harness

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// versitygwModule is what `go install` builds when versitygw is missing;
// scripts/install-deps.sh and `make deps` install the same version.
const versitygwModule = "github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// s3Hint tells the reader of a start error how to get versitygw.
const s3Hint = "is versitygw installed? run `make deps` or `go install " + versitygwModule + "`"

// S3Options configures StartS3. The zero value starts versitygw on a free
// port with a bucket named "lake" and fixed test credentials.
type S3Options struct {
	// Dir is the parent of the server's new directory; empty means the
	// system temp dir. Close removes the server's directory, not Dir.
	Dir string
	// Port is the TCP port to listen on; 0 picks a free one.
	Port int
	// Bucket is created at start; empty means "lake".
	Bucket string
	// AccessKey and SecretKey are the root credentials; empty means
	// "tributary" and "tributary-secret".
	AccessKey, SecretKey string
	// TLS serves HTTPS with a throwaway CA's certificate (S3.Certs).
	TLS bool
	// Binary is the versitygw executable; empty means versitygw on PATH,
	// in $GOBIN or in $(go env GOPATH)/bin.
	Binary string
	// Logger receives the harness's own messages; nil discards them.
	Logger *slog.Logger
}

// S3 is a running versitygw server: a real S3 API (SigV4, path-style,
// region us-east-1) over a folder. Its methods are safe for concurrent use.
type S3 struct {
	// Endpoint is the server's URL, "http://127.0.0.1:port".
	Endpoint string
	// Port is the server's TCP port.
	Port int
	// Region is the region clients sign requests for, "us-east-1".
	Region string
	// Bucket exists and is empty at start.
	Bucket string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string
	// Dir is the server's own directory; Close removes it. The objects
	// live in Dir/data/<bucket>/<key>.
	Dir string
	// Certs are the TLS files when S3Options.TLS is set, else nil.
	Certs *Certs

	bin  string
	args []string
	log  *slog.Logger

	mu     sync.Mutex
	proc   *process
	closed bool
}

// StartS3 starts `versitygw --access K --secret S --port 127.0.0.1:P posix
// DIR`, waits until it answers, and creates the bucket. On error nothing
// is left running and the directory is removed.
func StartS3(ctx context.Context, opts S3Options) (*S3, error) {
	bin := opts.Binary
	if bin == "" {
		var err error
		if bin, err = findVersitygw(ctx); err != nil {
			return nil, fmt.Errorf("start s3: %w (%s)", err, s3Hint)
		}
	}
	log := discardLogger(opts.Logger).With("server", "s3")
	dir, err := makeInstanceDir(opts.Dir, "tributary-s3-", log)
	if err != nil {
		return nil, fmt.Errorf("start s3: %w", err)
	}
	s := &S3{
		Region: "us-east-1", Bucket: opts.Bucket, AccessKey: opts.AccessKey, SecretKey: opts.SecretKey,
		Dir: dir, bin: bin, log: log,
	}
	if s.Bucket == "" {
		s.Bucket = "lake"
	}
	if s.AccessKey == "" {
		s.AccessKey, s.SecretKey = "tributary", "tributary-secret"
	}
	if opts.TLS {
		if s.Certs, err = GenerateCerts(filepath.Join(dir, "tls"), "tributary"); err != nil {
			s.Close()
			return nil, fmt.Errorf("start s3: %w", err)
		}
	}
	if err := s.start(ctx, opts.Port); err != nil {
		s.Close()
		return nil, fmt.Errorf("start s3: %w", err)
	}
	return s, nil
}

func (s *S3) start(ctx context.Context, port int) error {
	begin := time.Now()
	data := filepath.Join(s.Dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		s.Port = port
		if port == 0 {
			p, err := FreePort()
			if err != nil {
				return err
			}
			s.Port = p
		}
		scheme := "http://"
		s.args = []string{"--access", s.AccessKey, "--secret", s.SecretKey, "--region", s.Region,
			"--port", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))}
		if s.Certs != nil {
			scheme = "https://"
			s.args = append(s.args, "--cert", s.Certs.ServerCertFile, "--key", s.Certs.ServerKeyFile)
		}
		s.Endpoint = scheme + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
		s.args = append(s.args, "posix", data)
		err := s.Start(ctx)
		if err == nil {
			break
		}
		if port != 0 || attempt >= 3 || !strings.Contains(logTail(s.Log(), 30), "address already in use") {
			return err
		}
		s.log.Info("port taken, retrying on another", "port", s.Port)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(cctx, &s3.CreateBucketInput{Bucket: aws.String(s.Bucket)}); err != nil {
		return fmt.Errorf("create bucket %s: %w; tail of %s:\n%s", s.Bucket, err, s.Log(), logTail(s.Log(), 20))
	}
	s.log.Info("s3 started", "endpoint", s.Endpoint, "dir", s.Dir, "took", time.Since(begin).Round(time.Millisecond))
	return nil
}

// Log returns the path of the file that gets the server's output.
func (s *S3) Log() string { return filepath.Join(s.Dir, "versitygw.log") }

// Client returns an S3 client for the server: its endpoint, path-style,
// region us-east-1, the root credentials.
func (s *S3) Client() *s3.Client {
	return s.ClientFor(s.Endpoint)
}

// ClientFor is Client with another endpoint, such as a fault proxy in
// front of the server.
func (s *S3) ClientFor(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       s.Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		HTTPClient:   s.httpClient(10 * time.Minute),
	})
}

// httpClient returns an HTTP client that trusts the server's CA when it
// serves TLS.
func (s *S3) httpClient(timeout time.Duration) *http.Client {
	hc := &http.Client{Timeout: timeout}
	if s.Certs != nil {
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(s.Certs.CAFile); err == nil {
			pool.AppendCertsFromPEM(pem)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	return hc
}

// Start starts the server again, on the same port and folder, after Stop,
// and waits until it answers HTTP. It fails when the server is running or
// closed.
func (s *S3) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("s3 is closed")
	}
	if s.proc != nil && !s.proc.exited() {
		return errors.New("s3 is already running")
	}
	proc, err := startProcess(s.bin, s.args, s.Dir, s.Log(), nil)
	if err != nil {
		return fmt.Errorf("%w (%s)", err, s3Hint)
	}
	s.proc = proc
	if err := s.waitReady(ctx, proc); err != nil {
		_ = proc.kill()
		return err
	}
	return nil
}

// waitReady polls until the server answers an HTTP request (any status:
// an unsigned request is refused), the process exits, or the start
// timeout passes.
func (s *S3) waitReady(ctx context.Context, proc *process) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	hc := s.httpClient(time.Second)
	for {
		resp, err := hc.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-proc.done:
			return fmt.Errorf("versitygw exited during start (%v); tail of %s:\n%s\n(%s)",
				proc.err, s.Log(), logTail(s.Log(), 20), s3Hint)
		case <-ctx.Done():
			return fmt.Errorf("versitygw not ready on %s: %w (last error: %v); tail of %s:\n%s",
				s.Endpoint, ctx.Err(), err, s.Log(), logTail(s.Log(), 20))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after a minute). Stopping a
// stopped server is a no-op.
func (s *S3) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	if err := s.proc.stop(syscall.SIGTERM, stopTimeout); err != nil {
		return fmt.Errorf("stop s3: %w", err)
	}
	return nil
}

// Close kills the server and removes its directory. It is idempotent.
func (s *S3) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var errs []error
	if s.proc != nil {
		if err := s.proc.kill(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close s3: %w", err)
	}
	return nil
}

// findVersitygw looks for versitygw on PATH, in $GOBIN, and in the bin
// folder of $(go env GOPATH), where `go install` puts it.
func findVersitygw(ctx context.Context) (string, error) {
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.CommandContext(ctx, "go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, p := range filepath.SplitList(gopath) {
		dirs = append(dirs, filepath.Join(p, "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	return lookBin("versitygw", dirs...)
}
