package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/lake/compactor"
	"github.com/tributary-dev/tributary/schema"
)

// resnapshotter is a Source that can snapshot a table again while it
// streams (both readers can).
type resnapshotter interface {
	Resnapshot(id schema.TableID)
}

// readerState is what a reader is doing, for /status and `tributary status`.
type readerState string

const (
	stateStarting readerState = "starting"
	stateRunning  readerState = "running"
	statePaused   readerState = "paused"
	stateStopped  readerState = "stopped"
)

// readerUnit runs one source into its sink and lets the admin endpoint
// pause, resume and re-snapshot it. Pausing cancels the source's run,
// which commits what it holds (the checkpoint stays exact); resuming
// starts a new run from that checkpoint.
type readerUnit struct {
	name string
	cfg  *config.Source
	src  connectors.Source
	sink connectors.Sink
	log  *slog.Logger

	mu      sync.Mutex
	state   readerState
	err     error
	since   time.Time
	paused  bool
	cancel  context.CancelFunc // of the current run
	resumed chan struct{}      // closed by resume
}

func newReaderUnit(cfg *config.Source, src connectors.Source, sink connectors.Sink, log *slog.Logger) *readerUnit {
	return &readerUnit{name: cfg.Name, cfg: cfg, src: src, sink: sink, log: log, state: stateStarting, since: time.Now()}
}

// run runs the source until ctx ends or the source fails; pauses do not
// return.
func (u *readerUnit) run(ctx context.Context) error {
	for {
		u.mu.Lock()
		for u.paused {
			ch := u.resumed
			u.mu.Unlock()
			select {
			case <-ctx.Done():
				return nil
			case <-ch:
			}
			u.mu.Lock()
		}
		rctx, cancel := context.WithCancel(ctx)
		u.cancel = cancel
		u.setLocked(stateRunning, nil)
		u.mu.Unlock()

		err := u.src.Run(rctx, u.sink)
		cancel()

		u.mu.Lock()
		paused := u.paused
		u.cancel = nil
		switch {
		case ctx.Err() != nil:
			u.setLocked(stateStopped, nil)
			u.mu.Unlock()
			return nil
		case paused && (err == nil || errors.Is(err, context.Canceled)):
			u.setLocked(statePaused, nil)
			u.mu.Unlock()
			u.log.Info("reader paused", "source", u.name)
			continue
		}
		if err == nil {
			err = errors.New("reader stopped without an error")
		}
		u.setLocked(stateStopped, err)
		u.mu.Unlock()
		return fmt.Errorf("source %s: %w", u.name, err)
	}
}

func (u *readerUnit) setLocked(s readerState, err error) {
	if u.state != s {
		u.since = time.Now()
	}
	u.state, u.err = s, err
}

// pause stops reading after committing what is in flight; it reports
// whether the reader was running.
func (u *readerUnit) pause() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.paused || u.state == stateStopped {
		return false
	}
	u.paused = true
	u.resumed = make(chan struct{})
	if u.cancel != nil {
		u.cancel()
	}
	return true
}

// resume starts a paused reader again; it reports whether it was paused.
func (u *readerUnit) resume() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.paused {
		return false
	}
	u.paused = false
	close(u.resumed)
	return true
}

// resnapshot asks the running reader to snapshot a table again.
func (u *readerUnit) resnapshot(id schema.TableID) error {
	r, ok := u.src.(resnapshotter)
	if !ok {
		return fmt.Errorf("source %s cannot re-snapshot", u.name)
	}
	if !u.cfg.MatchTable(id.Database, id.Name) {
		return fmt.Errorf("source %s does not capture %s (see its tables.include)", u.name, id)
	}
	r.Resnapshot(id)
	return nil
}

// unitStatus is a reader's live state.
type unitStatus struct {
	Source string    `json:"source"`
	State  string    `json:"state"`
	Since  time.Time `json:"since"`
	Error  string    `json:"error,omitempty"`
}

func (u *readerUnit) status() unitStatus {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := unitStatus{Source: u.name, State: string(u.state), Since: u.since}
	if u.err != nil {
		s.Error = u.err.Error()
	}
	return s
}

// process is what one tributary process runs: readers, a compactor, or
// both (`tributary run`), plus the embedded broker when it owns one.
type process struct {
	log       *slog.Logger
	broker    *kafka.Embedded
	readers   []*readerUnit
	compactor *compactor.Compactor
	closers   []func()
}

// reader returns the reader of a source by name.
func (p *process) reader(name string) *readerUnit {
	for _, u := range p.readers {
		if u.name == name {
			return u
		}
	}
	return nil
}

// run runs every part until ctx ends or one part fails; then it stops the
// others (each drains what it holds) and returns the first failure.
func (p *process) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(p.readers)+1)
	start := func(f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil {
				errs <- err
				cancel()
			}
		}()
	}
	for _, u := range p.readers {
		start(u.run)
	}
	if p.compactor != nil {
		start(func(ctx context.Context) error {
			if err := p.compactor.Run(ctx); err != nil {
				return fmt.Errorf("compactor: %w", err)
			}
			return nil
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// close releases what run left open: the lake, the embedded broker.
func (p *process) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}
