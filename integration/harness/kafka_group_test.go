package harness

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupMember is a consumer group member whose process can be killed as by
// kill -9: its connections are cut without a LeaveGroup and it never
// connects again.
type groupMember struct {
	name string
	cl   *kgo.Client

	dead  atomic.Bool
	mu    sync.Mutex
	conns []net.Conn
	hold  chan struct{} // when set, OnPartitionsRevoked waits for it
	parts int           // partitions held now
}

// startMember joins group g on topic t with the compactor's group settings
// in the chaos test: eager assignment, a 6 s session, the default 60 s
// rebalance timeout.
func startMember(t *testing.T, k *Kafka, name string) *groupMember {
	t.Helper()
	m := &groupMember{name: name}
	dial := func(ctx context.Context, network, host string) (net.Conn, error) {
		if m.dead.Load() {
			return nil, errors.New("killed")
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, host)
		if err != nil {
			return nil, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.dead.Load() {
			c.Close()
			return nil, errors.New("killed")
		}
		m.conns = append(m.conns, c)
		return c, nil
	}
	count := func(ps map[string][]int32) (n int) {
		for _, p := range ps {
			n += len(p)
		}
		return n
	}
	cl, err := k.Client(
		kgo.ClientID(name),
		kgo.Dialer(dial),
		kgo.ConsumerGroup("g"),
		kgo.ConsumeTopics("t"),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(6*time.Second),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			m.mu.Lock()
			m.parts += count(ps)
			m.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			m.mu.Lock()
			m.parts -= count(ps)
			hold := m.hold
			m.mu.Unlock()
			if hold != nil {
				<-hold
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			m.mu.Lock()
			m.parts -= count(ps)
			m.mu.Unlock()
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	t.Cleanup(m.kill)
	return m
}

// kill cuts the member's connections; it sends nothing more.
func (m *groupMember) kill() {
	m.mu.Lock()
	if m.dead.Swap(true) {
		m.mu.Unlock()
		return
	}
	for _, c := range m.conns {
		c.Close()
	}
	m.mu.Unlock()
	go func() {
		gone, cancel := context.WithCancel(context.Background())
		cancel()
		_ = m.cl.LeaveGroupContext(gone) // cannot reach the broker: dead dialer
		m.cl.Close()
	}()
}

func (m *groupMember) assigned() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.parts
}

// describeGroup returns g's state and its members' client ids, sorted.
func describeGroup(ctx context.Context, admin *kgo.Client) (string, []string, error) {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Groups = []string{"g"}
	resp, err := req.RequestWith(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	if len(resp.Groups) != 1 {
		return "", nil, fmt.Errorf("describe groups: %d groups", len(resp.Groups))
	}
	var ids []string
	for _, m := range resp.Groups[0].Members {
		ids = append(ids, m.ClientID)
	}
	slices.Sort(ids)
	return resp.Groups[0].State, ids, nil
}

// waitFor polls cond every 100 ms until it is true or d has passed.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// TestKafkaGroupRejoinsAfterKills is the chaos test's wedged consumer group
// in small. New members are killed while their first JoinGroup waits in the
// broker; then both working members are killed (kill-both-compactors), and
// two fresh ones start 30 s apart (one's start-up was slow). Real Kafka
// answers a dead member's JoinGroup into the void and expires the member
// after its session timeout, so the fresh members are assigned within a
// rebalance timeout or two. kfake, left alone, keeps such a member for good
// and restarts the rebalance timer at every JoinGroup, so the two fresh
// members' JoinGroups time out every 70 s, in turns, for ever.
func TestKafkaGroupRejoinsAfterKills(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	k := KafkaT(t, KafkaOptions{Topics: []string{"t"}, Partitions: 16})
	admin, err := k.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	group := func() string {
		state, ids, err := describeGroup(ctx, admin)
		if err != nil {
			return err.Error()
		}
		return state + " " + strings.Join(ids, ",")
	}
	// The group's states and members, as they change, for the log.
	start := time.Now()
	var watch sync.WaitGroup
	watch.Go(func() {
		for last := ""; ctx.Err() == nil; time.Sleep(200 * time.Millisecond) {
			if g := group(); g != last && ctx.Err() == nil {
				t.Logf("+%4.1fs group %s", time.Since(start).Seconds(), g)
				last = g
			}
		}
	})
	defer watch.Wait()
	defer cancel()

	a, b := startMember(t, k, "a"), startMember(t, k, "b")
	if !waitFor(time.Minute, func() bool { return a.assigned() == 8 && b.assigned() == 8 }) {
		t.Fatalf("a and b not assigned: a %d, b %d partitions; group %s", a.assigned(), b.assigned(), group())
	}

	// New members join and are killed while their JoinGroup waits in the
	// broker: a and b cannot rejoin (a compactor commits what it holds
	// before it rejoins) until the new members are dead. The rebalance then
	// answers the dead members. kfake's answer to a closed connection is
	// lost or taken at random (a select between its buffered response
	// channel and the connection's end), and it arms the member's session
	// timer only when it is taken; with eight new members, at least one is
	// left without a timer but for a chance of 1 in 256.
	hold := make(chan struct{})
	for _, m := range []*groupMember{a, b} {
		m.mu.Lock()
		m.hold = hold
		m.mu.Unlock()
	}
	var zs []*groupMember
	want := "PreparingRebalance a,b"
	for i := range 8 {
		zs = append(zs, startMember(t, k, fmt.Sprintf("z%d", i)))
		want += fmt.Sprintf(",z%d", i)
	}
	if !waitFor(30*time.Second, func() bool { return group() == want }) {
		t.Fatalf("the new members did not join: group %s", group())
	}
	for _, z := range zs {
		z.kill()
	}
	time.Sleep(500 * time.Millisecond) // the broker sees the connections end
	close(hold)
	time.Sleep(time.Second)

	// Both workers are killed, as by kill-both-compactors, and start again
	// as fresh members.
	a.kill()
	b.kill()
	killed := time.Now()
	t.Logf("+%4.1fs a and b killed", time.Since(start).Seconds())
	c := startMember(t, k, "c")
	time.Sleep(30 * time.Second)
	d := startMember(t, k, "d")
	const deadline = 4 * time.Minute
	if !waitFor(deadline, func() bool { return c.assigned() == 8 && d.assigned() == 8 }) {
		t.Fatalf("c and d not assigned %s after a and b were killed: c %d, d %d partitions; group %s",
			time.Since(killed).Round(time.Second), c.assigned(), d.assigned(), group())
	}
	t.Logf("c and d assigned %s after a and b were killed", time.Since(killed).Round(time.Second))
}

// TestFrames checks that frames finds every frame's header however the
// stream is cut, and gives up on bytes that are not Kafka frames.
func TestFrames(t *testing.T) {
	frame := func(key int16, corr int32, body int) []byte {
		b := binary.BigEndian.AppendUint32(nil, uint32(8+body))
		b = binary.BigEndian.AppendUint16(b, uint16(key))
		b = binary.BigEndian.AppendUint16(b, 9)
		b = binary.BigEndian.AppendUint32(b, uint32(corr))
		return append(b, make([]byte, body)...)
	}
	var stream []byte
	stream = append(stream, frame(11, 7, 300)...)
	stream = append(stream, frame(12, 8, 0)...)
	stream = append(stream, frame(11, 9, 5)...)
	want := "11/7 12/8 11/9"
	for _, chunk := range []int{1, 3, 4, 12, 100, len(stream)} {
		var got []string
		f := frames{header: 8, fn: func(hdr []byte) {
			got = append(got, fmt.Sprintf("%d/%d", int16(binary.BigEndian.Uint16(hdr)), int32(binary.BigEndian.Uint32(hdr[4:]))))
		}}
		for p := stream; len(p) > 0; {
			n := min(chunk, len(p))
			f.feed(p[:n])
			p = p[n:]
		}
		if s := strings.Join(got, " "); s != want || f.bad {
			t.Errorf("chunks of %d: headers %q, bad %v; want %q", chunk, s, f.bad, want)
		}
	}
	// A TLS ClientHello's record header.
	f := frames{header: 8, fn: func([]byte) { t.Error("a header in a TLS record") }}
	f.feed([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0, 0})
	if !f.bad {
		t.Error("a TLS record read as a Kafka frame")
	}
}
