package faultproxy

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// HTTP is a reverse proxy on 127.0.0.1 in front of an S3 server that
// injects the faults S3 clients meet: a fraction of requests answered with
// 500 InternalError or 503 SlowDown (throttling), half of them before the
// request reaches the server and half after it was carried out (the
// client cannot tell whether a write happened), and a fraction stalled,
// then dropped without an answer, as a request that outlives the client's
// or a load balancer's timeout. The Host header is passed on unchanged, so
// SigV4 signatures made for the proxy's address verify at the server. Its
// methods are safe for concurrent use.
type HTTP struct {
	target *url.URL
	ln     net.Listener
	srv    *http.Server

	mu        sync.Mutex
	rnd       *rand.Rand
	errRate   float64
	stallRate float64
	stallFor  time.Duration
	stats     HTTPStats
}

// HTTPStats counts the requests an HTTP proxy saw and the faults it
// injected.
type HTTPStats struct {
	Requests int
	// Errors500 and Throttled (503 SlowDown) count injected error answers;
	// AfterWrite counts those given to a request the server carried out.
	Errors500, Throttled, AfterWrite int
	// Stalls counts requests held, then dropped without an answer.
	Stalls int
}

// NewHTTP listens on a free port of 127.0.0.1 and forwards to target (an
// http:// URL) with no faults. seed makes the choice of faulted requests
// repeatable.
func NewHTTP(target string, seed uint64) (*HTTP, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("fault proxy for %s: %w", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy for %s: %w", target, err)
	}
	h := &HTTP{target: u, ln: ln, rnd: rand.New(rand.NewPCG(seed, seed^0x5bd1e995))}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = &faultTransport{h: h, next: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if err == errStall {
			panic(http.ErrAbortHandler) // close the connection without an answer
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	h.srv = &http.Server{Handler: rp, ReadHeaderTimeout: time.Minute}
	go h.srv.Serve(ln)
	return h, nil
}

// URL returns the proxy's URL, "http://127.0.0.1:port".
func (h *HTTP) URL() string { return "http://" + h.ln.Addr().String() }

// SetErrors answers the fraction rate (0 to 1) of requests with a 500 or
// a 503 SlowDown.
func (h *HTTP) SetErrors(rate float64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errRate = rate
}

// SetStalls holds the fraction rate of requests for d, then drops their
// connection without an answer (sooner if the client gives up).
func (h *HTTP) SetStalls(rate float64, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stallRate, h.stallFor = rate, d
}

// Heal stops injecting faults; requests already stalled stay so.
func (h *HTTP) Heal() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errRate, h.stallRate = 0, 0
}

// Stats returns the counts so far.
func (h *HTTP) Stats() HTTPStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// Close stops the proxy and drops its connections.
func (h *HTTP) Close() error { return h.srv.Close() }

// fault is what happens to one request.
type fault int

const (
	noFault fault = iota
	err500Before
	err503Before
	err500After
	err503After
	stall
)

func (h *HTTP) pick() (fault, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stats.Requests++
	x := h.rnd.Float64()
	switch {
	case x < h.stallRate:
		h.stats.Stalls++
		return stall, h.stallFor
	case x < h.stallRate+h.errRate:
		f := fault(1 + h.rnd.IntN(4))
		if f == err500Before || f == err500After {
			h.stats.Errors500++
		} else {
			h.stats.Throttled++
		}
		if f == err500After || f == err503After {
			h.stats.AfterWrite++
		}
		return f, 0
	}
	return noFault, 0
}

var errStall = fmt.Errorf("faultproxy: request stalled and dropped")

type faultTransport struct {
	h    *HTTP
	next http.RoundTripper
}

func (t *faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f, d := t.h.pick()
	switch f {
	case noFault:
		return t.next.RoundTrip(r)
	case stall:
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		return nil, errStall
	case err500After, err503After:
		resp, err := t.next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	default:
		if r.Body != nil {
			io.Copy(io.Discard, r.Body)
		}
	}
	if f == err500Before || f == err500After {
		return s3Error(r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again."), nil
	}
	return s3Error(r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate."), nil
}

// s3Error is an S3 error answer as AWS sends it.
func s3Error(r *http.Request, status int, code, msg string) *http.Response {
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
		`<Error><Code>%s</Code><Message>%s</Message><RequestId>faultproxy</RequestId><HostId>faultproxy</HostId></Error>`, code, msg)
	if r.Method == http.MethodHead {
		body = ""
	}
	h := http.Header{}
	h.Set("Content-Type", "application/xml")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("x-amz-request-id", "faultproxy")
	return &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h,
		Body: io.NopCloser(bytes.NewReader([]byte(body))), ContentLength: int64(len(body)), Request: r,
	}
}
