package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KafkaOptions configures StartKafka. The zero value starts one in-memory
// broker on a free port, with automatic topic creation off.
type KafkaOptions struct {
	// Port is the broker's port on 127.0.0.1; 0 lets the system choose.
	// Restart reuses the port either way.
	Port int
	// Dir, when set, makes the broker keep its state (topics, records,
	// group offsets, producer ids) in that directory, so that it survives
	// Restart and can be reopened by a later StartKafka with the same Dir.
	// Empty keeps everything in memory, lost on Restart. Close does not
	// remove Dir.
	Dir string
	// AutoCreateTopics lets metadata requests create missing topics, as
	// auto.create.topics.enable does.
	AutoCreateTopics bool
	// Partitions is the partition count of topics created without one
	// (auto-created, or CreateTopics with -1); 0 means kfake's default, 10.
	Partitions int
	// Topics are created at start, with Partitions partitions each, unless
	// they were restored from Dir.
	Topics []string
	// ExtraOpts are passed to kfake.NewCluster after the harness's own. A
	// kfake.ListenFn among them replaces the harness's listener, and with
	// it the fix that joinConn describes; kfake.TLS turns that fix off.
	ExtraOpts []kfake.Opt
	// Logger receives the broker's log lines at the levels its handler
	// enables; nil discards them.
	Logger *slog.Logger
}

// Kafka is an in-process Kafka broker (kfake) on a loopback port. It speaks
// the Kafka protocol, with transactions, read_committed fetches and consumer
// groups, to clients in this process and in child processes alike. Its
// methods are safe for concurrent use.
type Kafka struct {
	// Addrs holds the broker's "127.0.0.1:port" seed address.
	Addrs []string
	// Port is the broker's port; it stays the same across Restart.
	Port int

	opts KafkaOptions

	mu      sync.Mutex
	cluster *kfake.Cluster
	closed  bool
}

// StartKafka starts a one-broker kfake cluster listening on 127.0.0.1.
func StartKafka(opts KafkaOptions) (*Kafka, error) {
	k := &Kafka{opts: opts, Port: opts.Port}
	c, err := k.newCluster()
	if err != nil {
		return nil, fmt.Errorf("start kafka: %w", err)
	}
	k.cluster = c
	addrs := c.ListenAddrs()
	if len(addrs) != 1 {
		c.Close()
		return nil, fmt.Errorf("start kafka: want one broker address, have %v", addrs)
	}
	_, portStr, err := net.SplitHostPort(addrs[0])
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("start kafka: broker address %q: %w", addrs[0], err)
	}
	k.Port, _ = strconv.Atoi(portStr)
	k.Addrs = addrs
	discardLogger(opts.Logger).Info("kafka started", "server", "kafka", "addr", addrs[0], "dir", opts.Dir)
	return k, nil
}

func (k *Kafka) newCluster() (*kfake.Cluster, error) {
	o := k.opts
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(listenJoinsAnswered)}
	if k.Port != 0 {
		opts = append(opts, kfake.Ports(k.Port))
	}
	if o.Dir != "" {
		opts = append(opts, kfake.DataDir(o.Dir))
	}
	if o.AutoCreateTopics {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if o.Partitions > 0 {
		opts = append(opts, kfake.DefaultNumPartitions(o.Partitions))
	}
	if len(o.Topics) > 0 {
		opts = append(opts, kfake.SeedTopics(int32(o.Partitions), o.Topics...))
	}
	if o.Logger != nil {
		opts = append(opts, kfake.WithLogger(slogKfake{o.Logger.With("server", "kafka")}))
	}
	opts = append(opts, o.ExtraOpts...)
	return kfake.NewCluster(opts...)
}

// Cluster returns the running kfake cluster, for fault injection with its
// Control methods; nil after Close.
func (k *Kafka) Cluster() *kfake.Cluster {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	return k.cluster
}

// Client returns a franz-go client seeded with the broker's address, with
// opts added after the seed. The caller closes it.
func (k *Kafka) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	all := append([]kgo.Opt{kgo.SeedBrokers(k.Addrs...)}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return cl, nil
}

// Restart closes the broker, which drops every connection, and starts a new
// one on the same port. With Dir set the new broker has the old one's
// state; without it, it starts empty. Clients reconnect on their own.
func (k *Kafka) Restart() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return errors.New("restart kafka: closed")
	}
	k.cluster.Close()
	c, err := k.newCluster()
	if err != nil {
		return fmt.Errorf("restart kafka: %w", err)
	}
	k.cluster = c
	return nil
}

// Close shuts the broker down; with Dir set it saves its state there first.
// It is idempotent and always returns nil.
func (k *Kafka) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil
	}
	k.closed = true
	k.cluster.Close()
	return nil
}

// slogKfake passes kfake's log lines to a slog.Logger.
type slogKfake struct{ l *slog.Logger }

// Logf implements kfake.Logger.
func (s slogKfake) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	case kfake.LogLevelInfo:
		lvl = slog.LevelInfo
	default:
		lvl = slog.LevelDebug
	}
	if !s.l.Enabled(context.Background(), lvl) {
		return
	}
	s.l.Log(context.Background(), lvl, fmt.Sprintf(format, args...))
}

// listenJoinsAnswered is the broker's listener: every connection it accepts
// is a joinConn.
func listenJoinsAnswered(network, addr string) (net.Listener, error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return joinListener{l}, nil
}

type joinListener struct{ net.Listener }

func (l joinListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	j := &joinConn{Conn: c, joins: map[int32]bool{}}
	j.cond.L = &j.mu
	j.requests = frames{header: 8, fn: j.request}
	j.responses = frames{header: 4, fn: j.response}
	return j, nil
}

// joinConn hides a client's hang-up from kfake while a JoinGroup that the
// client sent on the connection is unanswered; a real broker, which reads
// nothing more from a connection while its JoinGroup waits, does not see it
// either. kfake's group coordinator (groups.go, v0.0.0-20260918054303)
// gives a new member no session timer until the answer to its JoinGroup is
// taken by the connection, and the answer to a connection that has ended is
// taken or dropped at random (a select between the connection's buffered
// response channel and its end). A new member killed (kill -9) inside its
// JoinGroup then stays in the group for good, never joining and never
// expiring. Every later rebalance waits for it until the rebalance timer
// fires, and kfake starts that timer again at every JoinGroup, so two live
// members whose JoinGroups time out (at the 60 s rebalance timeout plus
// kgo's 10 s overhead) and are sent again in turns keep the group
// rebalancing for ever: the chaos test's wedged compactors. Kafka answers
// such a JoinGroup into the void and expires the member after its session
// timeout (and ends a rebalance at its rebalance timeout however many
// members join meanwhile).
//
// joinConn reads the correlation ids of the JoinGroup requests kfake reads
// and of the responses it writes. When the client's end of the connection
// is gone (a read error) while a JoinGroup is unanswered, the read error
// reaches kfake only after the answer is written (and lost), so kfake takes
// the answer and starts the member's session timer. A JoinGroup that kfake
// never answers (it forgets one that the client sends again on a new
// connection after a timeout, and one whose member it expires while the
// JoinGroup waits) holds its connection's goroutines until the broker
// closes. A connection whose bytes are not Kafka frames (TLS) is passed
// through as it is.
type joinConn struct {
	net.Conn

	mu        sync.Mutex
	cond      sync.Cond
	requests  frames         // read from the client
	responses frames         // written by kfake
	joins     map[int32]bool // correlation ids of unanswered JoinGroups
	closed    bool
}

// request notes a JoinGroup request; hdr is the request's api key,
// version and correlation id.
func (c *joinConn) request(hdr []byte) {
	if int16(binary.BigEndian.Uint16(hdr)) == kmsg.JoinGroup.Int16() {
		c.joins[int32(binary.BigEndian.Uint32(hdr[4:]))] = true
	}
}

// response notes an answer; hdr is its correlation id.
func (c *joinConn) response(hdr []byte) {
	delete(c.joins, int32(binary.BigEndian.Uint32(hdr)))
	if len(c.joins) == 0 {
		c.cond.Broadcast()
	}
}

func (c *joinConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests.feed(p[:n])
	if err != nil {
		for len(c.joins) > 0 && !c.closed && !c.requests.bad && !c.responses.bad {
			c.cond.Wait()
		}
	}
	return n, err
}

func (c *joinConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.responses.feed(p)
	if c.responses.bad {
		c.cond.Broadcast()
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

func (c *joinConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.cond.Broadcast()
	c.mu.Unlock()
	return c.Conn.Close()
}

// frames splits a stream into Kafka frames (a 4-byte big-endian size, then
// that many bytes) and calls fn with the first header bytes after the size
// of each. A size out of range (bytes that are not Kafka frames, as TLS
// records are) sets bad, after which feed does nothing.
type frames struct {
	header int // bytes after the size that fn gets
	fn     func(hdr []byte)
	buf    []byte // the current frame's size and header, as far as read
	skip   int    // bytes of the current frame left to pass over
	bad    bool
}

// maxFrame bounds a frame's size: kfake's own limit is far lower, and the
// first bytes of a TLS record read as more.
const maxFrame = 1 << 28

func (f *frames) feed(p []byte) {
	for len(p) > 0 && !f.bad {
		if f.skip > 0 {
			n := min(f.skip, len(p))
			f.skip -= n
			p = p[n:]
			continue
		}
		n := min(4+f.header-len(f.buf), len(p))
		f.buf = append(f.buf, p[:n]...)
		p = p[n:]
		if len(f.buf) < 4 {
			continue
		}
		size := int64(int32(binary.BigEndian.Uint32(f.buf)))
		if size < int64(f.header) || size > maxFrame {
			f.bad = true
			return
		}
		if len(f.buf) < 4+f.header {
			continue
		}
		f.fn(f.buf[4:])
		f.skip = int(size) - f.header
		f.buf = f.buf[:0]
	}
}
