package connectors

import (
	"context"
	"errors"
	"log/slog"
	"time"
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
// opens the sink, sets *started once it streams, and returns on its first
// error; the sink is closed after each run. Once a run has started
// streaming, a transient error starts a new run from the last committed
// checkpoint after a backoff (1 s doubling to 30 s, reset after a minute
// of health). An error before any run streamed, and a *FatalError at any
// time, are returned at once. Cancellation returns nil.
func Restart(ctx context.Context, log *slog.Logger, sink Sink, run func(ctx context.Context, started *bool) error) error {
	backoff := time.Second
	started := false
	for {
		start := time.Now()
		err := run(ctx, &started)
		sink.Close()
		if ctx.Err() != nil {
			return nil
		}
		if IsFatal(err) || !started {
			return err
		}
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
