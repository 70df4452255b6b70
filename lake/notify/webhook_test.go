package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"
)

// receiver is a webhook endpoint that answers from a script of status
// codes (then 200) and records what it got.
type receiver struct {
	mu      sync.Mutex
	script  []int
	bodies  [][]byte
	headers []http.Header
	// hold, when set, blocks each request until it is closed; started
	// gets a value as each request arrives.
	hold    chan struct{}
	started chan struct{}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.started != nil {
		r.started <- struct{}{}
	}
	if r.hold != nil {
		<-r.hold
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bodies = append(r.bodies, body)
	r.headers = append(r.headers, req.Header.Clone())
	code := http.StatusOK
	if len(r.script) > 0 {
		code, r.script = r.script[0], r.script[1:]
	}
	w.WriteHeader(code)
}

func (r *receiver) snapshots(t *testing.T) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, b := range r.bodies {
		var c Commit
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("body %s: %v", b, err)
		}
		out = append(out, c.SnapshotID)
	}
	return out
}

func commit(id int64) *Commit {
	return &Commit{Table: "shop.customers", Namespace: "shop", Name: "customers", SnapshotID: id, Topic: "src.shop.customers",
		Offsets: map[int32]Interval{0: {From: 10, To: 20}}}
}

func TestWebhookRetriesAndSigns(t *testing.T) {
	rcv := &receiver{script: []int{503, 500, 200, 400}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	secret := []byte("webhook-secret")
	w := NewWebhook(WebhookConfig{URL: srv.URL, Secret: secret, BearerToken: "tok", RetryMin: time.Millisecond, Retries: 3})
	if err := w.Notify(context.Background(), commit(7)); err != nil {
		t.Fatal(err)
	}
	// The second one gets a 400: not retried.
	if err := w.Notify(context.Background(), commit(8)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if got := rcv.snapshots(t); !reflect.DeepEqual(got, []int64{7, 7, 7, 8}) {
		t.Errorf("received snapshots %v, want 7 three times (two retries) then 8 once", got)
	}
	if w.Sent() != 1 || w.Failed() != 1 || w.Dropped() != 0 {
		t.Errorf("sent %d failed %d dropped %d, want 1 1 0", w.Sent(), w.Failed(), w.Dropped())
	}
	for i, h := range rcv.headers {
		mac := hmac.New(sha256.New, secret)
		mac.Write(rcv.bodies[i])
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); h.Get(SignatureHeader) != want {
			t.Errorf("request %d: signature %q, want %q", i, h.Get(SignatureHeader), want)
		}
		if h.Get("Authorization") != "Bearer tok" || h.Get("Content-Type") != "application/json" {
			t.Errorf("request %d: headers %v", i, h)
		}
	}
	var c Commit
	if err := json.Unmarshal(rcv.bodies[0], &c); err != nil || c.Offsets[0] != (Interval{From: 10, To: 20}) || c.Table != "shop.customers" {
		t.Errorf("body %s decodes to %+v (%v)", rcv.bodies[0], c, err)
	}
}

func TestWebhookGivesUpAfterRetries(t *testing.T) {
	rcv := &receiver{script: []int{503, 503, 503, 503, 200}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w := NewWebhook(WebhookConfig{URL: srv.URL, RetryMin: time.Millisecond, Retries: 2})
	_ = w.Notify(context.Background(), commit(1))
	w.Close()
	if got := rcv.snapshots(t); len(got) != 3 || w.Failed() != 1 || w.Sent() != 0 {
		t.Errorf("%d attempts, failed %d, sent %d; want 3 attempts (1 + 2 retries), 1 failed", len(got), w.Failed(), w.Sent())
	}
}

// TestWebhookDropsOldestWhenFull blocks the endpoint: Notify still returns
// at once, and the queue keeps the newest notifications.
func TestWebhookDropsOldestWhenFull(t *testing.T) {
	rcv := &receiver{hold: make(chan struct{}), started: make(chan struct{}, 10)}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	w := NewWebhook(WebhookConfig{URL: srv.URL, QueueSize: 2})
	ctx := context.Background()
	_ = w.Notify(ctx, commit(1))
	<-rcv.started // 1 is in flight, out of the queue
	for id := int64(2); id <= 5; id++ {
		if err := w.Notify(ctx, commit(id)); err != nil {
			t.Fatal(err)
		}
	}
	if w.Dropped() != 2 {
		t.Errorf("dropped %d, want 2 (snapshots 2 and 3)", w.Dropped())
	}
	close(rcv.hold)
	w.Close()
	if got := rcv.snapshots(t); !reflect.DeepEqual(got, []int64{1, 4, 5}) {
		t.Errorf("received %v, want [1 4 5]", got)
	}
	if err := w.Notify(ctx, commit(6)); err == nil || w.Dropped() != 3 {
		t.Errorf("Notify after Close: %v, dropped %d", err, w.Dropped())
	}
}

// TestWebhookCloseIsBounded closes while the endpoint never answers.
func TestWebhookCloseIsBounded(t *testing.T) {
	rcv := &receiver{hold: make(chan struct{}), started: make(chan struct{}, 10)}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	defer close(rcv.hold)
	w := NewWebhook(WebhookConfig{URL: srv.URL, Timeout: time.Hour, DrainTimeout: 50 * time.Millisecond})
	_ = w.Notify(context.Background(), commit(1))
	_ = w.Notify(context.Background(), commit(2))
	<-rcv.started
	w.Close() // returns although the request would take an hour
	w.Close()
	if w.Sent() != 0 || w.Failed()+w.Dropped() != 2 {
		t.Errorf("sent %d failed %d dropped %d; want both lost", w.Sent(), w.Failed(), w.Dropped())
	}
}
