package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// SignatureHeader carries the body's signature when WebhookConfig.Secret
// is set: "sha256=" and the lowercase hex HMAC-SHA256 of the request body
// under the secret (the form GitHub webhooks use).
const SignatureHeader = "X-Tributary-Signature-256"

// WebhookConfig configures a Webhook.
type WebhookConfig struct {
	// URL receives a POST of each Commit as JSON.
	URL string
	// Secret, when set, signs each body (see SignatureHeader).
	Secret []byte
	// BearerToken, when set, is sent as "Authorization: Bearer <token>".
	BearerToken string
	// Timeout bounds one attempt; default 5s.
	Timeout time.Duration
	// Retries is how many times a failed attempt (a network error, a 5xx
	// or 429 answer) is tried again, after a pause that starts at
	// RetryMin (default 500ms) and doubles up to 30s; default 5. Other
	// answers outside 2xx are not retried.
	Retries  int
	RetryMin time.Duration
	// QueueSize is how many notifications wait at most; when the queue is
	// full the oldest is dropped. Default 1000.
	QueueSize int
	// DrainTimeout bounds how long Close keeps delivering what is queued;
	// default 10s.
	DrainTimeout time.Duration
	// Client makes the requests; default a client without its own timeout
	// (Timeout applies per attempt).
	Client *http.Client
	Logger *slog.Logger
}

// Webhook POSTs notifications to a URL from its own goroutine, in order,
// one at a time. Notify only queues, so a slow or failing endpoint never
// delays a commit; it is safe for concurrent use.
type Webhook struct {
	cfg WebhookConfig
	log *slog.Logger

	mu      sync.Mutex
	queue   [][]byte // JSON bodies, oldest first
	started bool
	closing bool
	wake    chan struct{}
	done    chan struct{}
	stop    context.CancelFunc
	ctx     context.Context

	sent, failed, dropped atomic.Uint64
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook returns a Webhook. It does no I/O; its goroutine starts with
// the first Notify.
func NewWebhook(cfg WebhookConfig) *Webhook {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 5
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 500 * time.Millisecond
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1000
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Webhook{cfg: cfg, log: cfg.Logger.With("notify", "webhook"), wake: make(chan struct{}, 1), done: make(chan struct{}), ctx: ctx, stop: cancel}
}

// Notify queues one notification. It never blocks on the endpoint; when
// the queue is full the oldest notification is dropped (counted in
// Dropped, logged).
func (w *Webhook) Notify(_ context.Context, c *Commit) error {
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		w.dropped.Add(1)
		return fmt.Errorf("webhook notifier closed: snapshot %d of %s not sent", c.SnapshotID, c.Table)
	}
	var lost bool
	if len(w.queue) >= w.cfg.QueueSize {
		w.queue[0] = nil
		w.queue = w.queue[1:]
		lost = true
	}
	w.queue = append(w.queue, body)
	if !w.started {
		w.started = true
		go w.run()
	}
	w.mu.Unlock()
	if lost {
		n := w.dropped.Add(1)
		if n == 1 || n%100 == 0 {
			w.log.Warn("webhook queue full: dropped the oldest notification", "dropped_total", n, "queue", w.cfg.QueueSize)
		}
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	return nil
}

// next takes the oldest queued body; ok is false when the queue is empty.
func (w *Webhook) next() (body []byte, closing, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil, w.closing, false
	}
	body = w.queue[0]
	w.queue[0] = nil
	w.queue = w.queue[1:]
	return body, w.closing, true
}

func (w *Webhook) run() {
	defer close(w.done)
	for {
		body, closing, ok := w.next()
		if !ok {
			if closing {
				return
			}
			select {
			case <-w.wake:
			case <-w.ctx.Done():
			}
			continue
		}
		if err := w.deliver(body); err != nil {
			w.failed.Add(1)
			w.log.Warn("commit notification not delivered", "err", err)
		} else {
			w.sent.Add(1)
		}
	}
}

// deliver POSTs one body, retrying with backoff.
func (w *Webhook) deliver(body []byte) error {
	pause := w.cfg.RetryMin
	var err error
	for attempt := 0; ; attempt++ {
		var retry bool
		if retry, err = w.post(body); err == nil || !retry || attempt == w.cfg.Retries {
			return err
		}
		select {
		case <-time.After(pause):
		case <-w.ctx.Done():
			return fmt.Errorf("%w (stopped before retry %d)", err, attempt+1)
		}
		pause = min(2*pause, 30*time.Second)
	}
}

// post makes one attempt and says whether a failure is worth a retry.
func (w *Webhook) post(body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(w.ctx, w.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "tributary-compactor")
	if len(w.cfg.Secret) > 0 {
		req.Header.Set(SignatureHeader, Sign(w.cfg.Secret, body))
	}
	if w.cfg.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+w.cfg.BearerToken)
	}
	resp, err := w.cfg.Client.Do(req)
	if err != nil {
		return true, fmt.Errorf("post webhook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("post webhook: %s", resp.Status)
	}
	return false, fmt.Errorf("post webhook: %s (not retried)", resp.Status)
}

// Sign returns the SignatureHeader value of a body: "sha256=" and the hex
// HMAC-SHA256 of body under secret. A receiver recomputes it over the raw
// body and compares with hmac.Equal.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Sent, Failed and Dropped count the notifications delivered, given up
// after the retries, and dropped from a full queue (or after Close).
func (w *Webhook) Sent() uint64    { return w.sent.Load() }
func (w *Webhook) Failed() uint64  { return w.failed.Load() }
func (w *Webhook) Dropped() uint64 { return w.dropped.Load() }

// Close stops taking notifications, keeps delivering the queued ones for
// up to DrainTimeout, then stops. It is idempotent.
func (w *Webhook) Close() {
	w.mu.Lock()
	already, started := w.closing, w.started
	w.closing = true
	w.mu.Unlock()
	if already {
		<-w.done
		return
	}
	if !started {
		w.stop()
		close(w.done)
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
	select {
	case <-w.done:
	case <-time.After(w.cfg.DrainTimeout):
		w.stop()
		<-w.done
	}
	w.stop()
	w.mu.Lock()
	if n := len(w.queue); n > 0 {
		w.dropped.Add(uint64(n))
		w.log.Warn("webhook closed with notifications queued; dropped", "count", n)
		w.queue = nil
	}
	w.mu.Unlock()
}
