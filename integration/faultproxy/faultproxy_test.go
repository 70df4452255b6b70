package faultproxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T) *Proxy {
	t.Helper()
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, line string) (string, error) {
	t.Helper()
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := r.ReadString('\n')
	return strings.TrimSuffix(got, "\n"), err
}

func TestPassAndReset(t *testing.T) {
	p := newProxy(t)
	c, r := dial(t, p)
	if got, err := roundTrip(t, c, r, "hello"); err != nil || got != "hello" {
		t.Fatalf("pass: %q, %v", got, err)
	}
	if n := p.Reset(); n != 1 {
		t.Errorf("reset %d connections, want 1", n)
	}
	if _, err := roundTrip(t, c, r, "after"); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("after reset: %v, want connection reset", err)
	}
	// New connections are reset while the mode lasts: the reset may come
	// before connect returns (on a busy machine) or on the first read.
	if c2, err := net.Dial("tcp", p.Addr()); err == nil {
		defer c2.Close()
		if _, err := roundTrip(t, c2, bufio.NewReader(c2), "x"); err == nil {
			t.Errorf("a new connection in mode reset worked")
		}
	}
	p.Pass()
	c3, r3 := dial(t, p)
	if got, err := roundTrip(t, c3, r3, "healed"); err != nil || got != "healed" {
		t.Fatalf("after pass: %q, %v", got, err)
	}
	if s := p.Stats(); s.Resets < 2 || s.Accepted != 3 {
		t.Errorf("stats %+v", s)
	}
}

func TestBlackholeHoldsBytesUntilHealed(t *testing.T) {
	p := newProxy(t)
	c, r := dial(t, p)
	if got, err := roundTrip(t, c, r, "one"); err != nil || got != "one" {
		t.Fatalf("pass: %q, %v", got, err)
	}
	p.Blackhole()
	c2, r2 := dial(t, p) // accepted, never connected through
	io.WriteString(c, "two\n")
	io.WriteString(c2, "new\n")
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if got, err := r.ReadString('\n'); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackhole answered %q, %v", got, err)
	}
	c.SetReadDeadline(time.Time{})
	p.Pass()
	if got, err := r.ReadString('\n'); err != nil || got != "two\n" {
		t.Errorf("after heal: %q, %v", got, err)
	}
	if got, err := r2.ReadString('\n'); err != nil || got != "new\n" {
		t.Errorf("connection accepted in blackhole, after heal: %q, %v", got, err)
	}
}

func TestSlow(t *testing.T) {
	p := newProxy(t)
	c, r := dial(t, p)
	p.Slow(100*time.Millisecond, 0)
	start := time.Now()
	if got, err := roundTrip(t, c, r, "slow"); err != nil || got != "slow" {
		t.Fatalf("slow: %q, %v", got, err)
	}
	// Two chunks (there and back), each held 100ms at least.
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("round trip took %s, want at least 200ms", took)
	}
	p.Slow(0, 50_000)
	start = time.Now()
	big := strings.Repeat("x", 10_000)
	if got, err := roundTrip(t, c, r, big); err != nil || got != big {
		t.Fatalf("throttled: %d bytes, %v", len(got), err)
	}
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("20 kB at 50 kB/s took %s, want at least 300ms", took)
	}
}

func TestHTTPFaults(t *testing.T) {
	var reached atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.Host == "" {
			t.Errorf("no Host header")
		}
		io.WriteString(w, "ok "+r.Host)
	}))
	t.Cleanup(backend.Close)
	h, err := NewHTTP(backend.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	get := func() (int, string, error) {
		resp, err := http.Get(h.URL() + "/bucket/key")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	// The Host header the client signed reaches the server unchanged.
	if code, body, err := get(); err != nil || code != 200 || body != "ok "+strings.TrimPrefix(h.URL(), "http://") {
		t.Fatalf("pass: %d %q %v", code, body, err)
	}
	h.SetErrors(1)
	for range 40 {
		code, body, err := get()
		if err != nil || (code != 500 && code != 503) || !strings.Contains(body, "<Code>") {
			t.Fatalf("error mode: %d %q %v", code, body, err)
		}
	}
	s := h.Stats()
	if s.Errors500 == 0 || s.Throttled == 0 || s.AfterWrite == 0 || s.AfterWrite == 40 {
		t.Errorf("stats %+v: want both kinds, some after the write", s)
	}
	if got := int(reached.Load()) - 1; got != s.AfterWrite {
		t.Errorf("%d faulted requests reached the server, want %d", got, s.AfterWrite)
	}
	h.Heal()
	h.SetStalls(1, 200*time.Millisecond)
	if _, _, err := get(); err == nil {
		t.Errorf("a stalled request was answered")
	}
	h.Heal()
	if code, _, err := get(); err != nil || code != 200 {
		t.Errorf("healed: %d %v", code, err)
	}
}
