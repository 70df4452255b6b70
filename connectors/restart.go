package connectors

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/tributary-dev/tributary/metrics"
	"github.com/tributary-dev/tributary/schema"
)

// FatalError is an error that retrying cannot fix: bad credentials, a
// missing prerequisite, a purged position. Its message says what is wrong
// and how to fix it. Readers return it at once.
type FatalError struct{ Err error }

func (e *FatalError) Error() string { return e.Err.Error() }
func (e *FatalError) Unwrap() error { return e.Err }

// Fatal wraps err as a *FatalError.
func Fatal(err error) error { return &FatalError{Err: err} }

// IsFatal reports whether err is, or wraps, a *FatalError.
func IsFatal(err error) bool {
	var fe *FatalError
	return errors.As(err, &fe)
}

// Restart runs a reader's run function until ctx ends. The run function
// opens the sink it is given, sets *started once it streams, and returns on
// its first error; the sink is closed after each run. Once a run has
// started streaming, a transient error starts a new run from the last
// committed checkpoint after a backoff (1 s doubling to 30 s, reset after a
// minute of health). An error before any run streamed, and a *FatalError at
// any time, are returned at once. Cancellation returns nil.
//
// m (nil for none) is told when the reader runs, commits, fails and
// restarts; a failure is of kind kafka when the sink's last call failed,
// fatal for a *FatalError, and source otherwise.
func Restart(ctx context.Context, log *slog.Logger, sink Sink, m *metrics.Reader, run func(ctx context.Context, sink Sink, started *bool) error) error {
	m.Running(true)
	defer m.Running(false)
	obs := &observedSink{Sink: sink, m: m}
	backoff := time.Second
	started := false
	for {
		start := time.Now()
		obs.failed = false
		err := run(ctx, obs, &started)
		sink.Close()
		if ctx.Err() != nil {
			return nil
		}
		kind := metrics.ErrorSource
		switch {
		case IsFatal(err):
			kind = metrics.ErrorFatal
		case obs.failed:
			kind = metrics.ErrorKafka
		}
		if IsFatal(err) || !started {
			m.Error(kind)
			return err
		}
		m.Restarted(kind)
		if time.Since(start) > time.Minute {
			backoff = time.Second
		}
		log.Warn("reader failed; restarting from the last checkpoint", "err", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

var _ AsyncCommitter = (*observedSink)(nil)

// observedSink notes whether the sink's last call failed and tells the
// metrics of each commit.
type observedSink struct {
	Sink
	m      *metrics.Reader
	failed bool
}

func (o *observedSink) note(err error) error {
	o.failed = err != nil
	return err
}

func (o *observedSink) Open(ctx context.Context) ([]byte, error) {
	cp, err := o.Sink.Open(ctx)
	return cp, o.note(err)
}

func (o *observedSink) Schemas(ctx context.Context) ([]*schema.Table, error) {
	ts, err := o.Sink.Schemas(ctx)
	return ts, o.note(err)
}

func (o *observedSink) Add(ctx context.Context, e *schema.Event) error {
	return o.note(o.Sink.Add(ctx, e))
}

func (o *observedSink) AddSchema(ctx context.Context, t *schema.Table) error {
	return o.note(o.Sink.AddSchema(ctx, t))
}

func (o *observedSink) Commit(ctx context.Context, checkpoint []byte) error {
	err := o.note(o.Sink.Commit(ctx, checkpoint))
	if err == nil {
		o.m.Committed()
	}
	return err
}

// CommitAsync forwards to the sink's CommitAsync (or Commit). A queued
// commit counts as committed: if it fails, a later call fails, the run
// ends and the restart clears the mark.
func (o *observedSink) CommitAsync(ctx context.Context, checkpoint []byte) error {
	err := o.note(CommitAsync(ctx, o.Sink, checkpoint))
	if err == nil {
		o.m.Committed()
	}
	return err
}
