package compactor

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// overlapLake wraps the tables it opens: the items table's Apply can be
// made slow, the other table's Apply can be made to fail once, and every
// call records whether another call on the same table was in progress.
type overlapLake struct {
	lake.Lake
	slow, boom atomic.Bool
	mu         sync.Mutex
	overlaps   []string
}

type overlapTable struct {
	lake.Table
	l      *overlapLake
	name   string
	inCall atomic.Int32
}

func (l *overlapLake) Open(ctx context.Context, t *schema.Table, cfg lake.TableConfig) (lake.Table, error) {
	tbl, err := l.Lake.Open(ctx, t, cfg)
	if err != nil {
		return nil, err
	}
	return &overlapTable{Table: tbl, l: l, name: t.ID.Name}, nil
}

func (t *overlapTable) enter(call string) func() {
	if t.inCall.Add(1) > 1 {
		t.l.mu.Lock()
		t.l.overlaps = append(t.l.overlaps, t.name+"."+call)
		t.l.mu.Unlock()
	}
	return func() { t.inCall.Add(-1) }
}

func (t *overlapTable) Apply(ctx context.Context, b *lake.Batch) (lake.Stats, error) {
	defer t.enter("Apply")()
	if t.name == "items" && t.l.slow.CompareAndSwap(true, false) {
		time.Sleep(25 * time.Second) // an object store stalling the commit
	}
	if t.name == "other" && t.l.boom.CompareAndSwap(true, false) {
		return lake.Stats{}, errors.New("injected: commit failed")
	}
	return t.Table.Apply(ctx, b)
}

func (t *overlapTable) Refresh(ctx context.Context) error {
	defer t.enter("Refresh")()
	return t.Table.(lake.Refresher).Refresh(ctx)
}

func (t *overlapTable) Checkpoint() lake.Checkpoint {
	defer t.enter("Checkpoint")()
	return t.Table.Checkpoint()
}

// TestCompactorSessionsShareTable ends a session (another table's commit
// fails) while the items table's worker is inside a slow commit: leaving
// the group gives up after leaveTimeout, the next session starts, and its
// worker for items opens the same lake.Table (kept for its key index) and
// refreshes it while the old worker is still committing to it. Two
// workers then use one Table at once; a Table planned by one and changed
// by the other under it commits rows it must not (lake/iceberg's
// TestMaintainRacingApply). The next session's worker must wait for the
// old one (Compactor.retiring); the test fails on any overlap. It takes
// about 40 s.
func TestCompactorSessionsShareTable(t *testing.T) {
	brokers, base := newBrokerAndLake(t)
	l := &overlapLake{Lake: base}
	items := newSource(t, brokers, itemsTable("items", 1))
	// One reader, two tables: the second shares the first's publisher.
	other := &fakeSource{t: t, pub: items.pub, tbl: itemsTable("other", 1), want: map[int64][]any{}}
	if err := other.pub.AddSchema(context.Background(), other.tbl); err != nil {
		t.Fatal(err)
	}
	for i := range int64(20) {
		items.event(schema.OpCreate, nil, rowOf(i, "new"))
		other.event(schema.OpCreate, nil, rowOf(i, "new"))
	}
	items.commit()
	_, stop := startCompactor(t, brokers, l, func(c *Config) {
		c.Sources[0].Tables["shop.other"] = TableOptions{PartitionColumn: "day"}
	})
	waitLake(t, base, items)
	waitLake(t, base, other)

	l.slow.Store(true)
	items.event(schema.OpUpdate, items.want[1], rowOf(1, "slow"))
	items.commit()
	time.Sleep(time.Second) // the items worker is in its slow Apply
	l.boom.Store(true)
	other.event(schema.OpUpdate, other.want[1], rowOf(1, "boom"))
	items.commit()

	time.Sleep(40 * time.Second)
	waitLake(t, base, items)
	waitLake(t, base, other)
	stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.overlaps) > 0 {
		t.Errorf("calls on a lake table while another call on it was in progress: %v", l.overlaps)
	}
}
