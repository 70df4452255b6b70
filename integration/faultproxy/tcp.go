// Package faultproxy injects network faults between Tributary and the
// servers it talks to, for the chaos test: a TCP proxy (Proxy) whose mode
// changes at run time, and an HTTP layer in front of S3 (HTTP) that fails,
// throttles and stalls a fraction of the requests.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what a Proxy does to the bytes it carries.
type Mode int

const (
	// Pass forwards every byte at once.
	Pass Mode = iota
	// Reset closes every open connection with a TCP RST (both sides), and
	// resets each new connection as soon as it is accepted.
	Reset
	// Blackhole accepts connections but forwards nothing in either
	// direction, as a network partition does: each side's bytes wait (in
	// the proxy and in the kernel buffers) until the mode changes, and
	// then flow again, none lost.
	Blackhole
	// Slow forwards with an added delay per chunk and at a capped rate.
	Slow
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Reset:
		return "reset"
	case Blackhole:
		return "blackhole"
	case Slow:
		return "slow"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Proxy is a TCP proxy on 127.0.0.1 in front of one server. Its methods are
// safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener

	mu      sync.Mutex
	changed *sync.Cond // broadcast on every mode change and on Close
	mode    Mode
	latency time.Duration
	rate    int // bytes per second in Slow; 0 is unlimited
	conns   map[*link]struct{}
	closed  bool
	stats   Stats
	wg      sync.WaitGroup
}

// Stats counts what a Proxy did.
type Stats struct {
	// Accepted counts connections accepted; Resets counts connections
	// closed with a RST.
	Accepted, Resets int
}

// link is one proxied connection: the client's side and the server's.
type link struct {
	client, server net.Conn
}

// New listens on a free port of 127.0.0.1 and forwards to target
// ("host:port") in mode Pass.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy for %s: %w", target, err)
	}
	p := &Proxy{target: target, ln: ln, conns: map[*link]struct{}{}}
	p.changed = sync.NewCond(&p.mu)
	p.wg.Go(p.accept)
	return p, nil
}

// Addr returns the proxy's address, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port returns the proxy's port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Pass heals the proxy: bytes flow at once again.
func (p *Proxy) Pass() { p.set(Pass, 0, 0) }

// Blackhole stalls every connection, open and new, until the next mode.
func (p *Proxy) Blackhole() { p.set(Blackhole, 0, 0) }

// Slow delays each chunk by latency and caps each direction of each
// connection at bytesPerSec (0: no cap).
func (p *Proxy) Slow(latency time.Duration, bytesPerSec int) { p.set(Slow, latency, bytesPerSec) }

// Reset closes every open connection with a RST and keeps resetting new
// ones until the next mode. It returns how many it closed.
func (p *Proxy) Reset() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.latency, p.rate = Reset, 0, 0
	n := len(p.conns)
	for l := range p.conns {
		l.reset()
		delete(p.conns, l)
	}
	p.stats.Resets += n
	p.changed.Broadcast()
	return n
}

// ResetAll closes every open connection with a RST and stays in (or goes
// back to) mode Pass: a one-off network blip.
func (p *Proxy) ResetAll() int {
	n := p.Reset()
	p.Pass()
	return n
}

func (p *Proxy) set(m Mode, latency time.Duration, rate int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode, p.latency, p.rate = m, latency, rate
	p.changed.Broadcast()
}

// Close stops listening and closes every connection. It is idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for l := range p.conns {
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
		delete(p.conns, l)
	}
	p.changed.Broadcast()
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.stats.Accepted++
		if p.closed {
			p.mu.Unlock()
			c.Close()
			return
		}
		if p.mode == Reset {
			p.stats.Resets++
			p.mu.Unlock()
			rst(c)
			continue
		}
		l := &link{client: c}
		p.conns[l] = struct{}{}
		p.mu.Unlock()
		p.wg.Go(func() { p.serve(l) })
	}
}

// serve dials the server (once the mode lets bytes flow) and pumps both
// directions until either side closes.
func (p *Proxy) serve(l *link) {
	if !p.wait(l) {
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 10*time.Second)
	if err != nil {
		p.drop(l, true)
		return
	}
	p.mu.Lock()
	if _, ok := p.conns[l]; !ok { // reset or closed while dialling
		p.mu.Unlock()
		rst(s)
		return
	}
	l.server = s
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { p.pump(l, l.server, l.client) })
	wg.Go(func() { p.pump(l, l.client, l.server) })
	wg.Wait()
	p.drop(l, false)
}

// pump copies src to dst, chunk by chunk, each chunk subject to the mode
// in force when it is to be written.
func (p *Proxy) pump(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait(l) || !p.delay(n) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				closeBoth(l)
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				// Half-close: pass the EOF on, keep the other direction.
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
					return
				}
			}
			closeBoth(l)
			return
		}
	}
}

// wait blocks while the proxy is in Blackhole; it returns false when the
// link was reset or the proxy closed.
func (p *Proxy) wait(l *link) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if _, ok := p.conns[l]; !ok || p.closed {
			return false
		}
		if p.mode != Blackhole {
			return true
		}
		p.changed.Wait()
	}
}

// delay sleeps as Slow asks for n bytes; it returns false when the link
// was reset meanwhile.
func (p *Proxy) delay(n int) bool {
	p.mu.Lock()
	mode, latency, rate := p.mode, p.latency, p.rate
	p.mu.Unlock()
	if mode != Slow {
		return true
	}
	d := latency
	if rate > 0 {
		d += time.Duration(float64(n) / float64(rate) * float64(time.Second))
	}
	time.Sleep(d)
	return true
}

// drop forgets a link; with hard it resets the client's side.
func (p *Proxy) drop(l *link, hard bool) {
	p.mu.Lock()
	_, ok := p.conns[l]
	delete(p.conns, l)
	p.mu.Unlock()
	if !ok {
		return
	}
	if hard {
		rst(l.client)
		return
	}
	closeBoth(l)
}

func (l *link) reset() {
	rst(l.client)
	if l.server != nil {
		rst(l.server)
	}
}

func closeBoth(l *link) {
	l.client.Close()
	if l.server != nil {
		l.server.Close()
	}
}

// rst closes c so that the peer gets a RST, not a FIN.
func rst(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
