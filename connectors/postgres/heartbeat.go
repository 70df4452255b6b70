package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tributary-dev/tributary/metrics"
)

// heartbeatPrefix is the prefix of the reader's heartbeat messages. A
// heartbeat is a non-transactional logical message: decoding reaches it
// even when no captured table changes, so the reader learns a newer
// position, commits it and lets the slot release WAL that other tables and
// databases wrote.
func (s *Source) heartbeatPrefix() string { return "tributary.heartbeat." + s.cfg.Slot }

// watermarkPrefix is the prefix of the snapshot watermarks.
func (s *Source) watermarkPrefix() string { return "tributary.watermark." + s.cfg.Slot }

// heartbeat writes a heartbeat message every HeartbeatInterval and reads
// how much WAL the slot retains, on its own connection, until ctx ends.
// Failures are logged and retried: heartbeats only help.
func (s *Source) heartbeat(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	tick := time.NewTicker(s.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if conn == nil {
			c, err := s.connect(ctx)
			if err != nil {
				s.log.Warn("heartbeat: connect", "err", err)
				continue
			}
			conn = c
		}
		qctx, cancel := context.WithTimeout(ctx, s.cfg.HeartbeatInterval)
		var retained, current *int64
		// The content is the time the heartbeat is written: the stream
		// reads the reader's lag from it.
		_, err := conn.Exec(qctx, `SELECT pg_logical_emit_message(false, $1, $2)`, s.heartbeatPrefix(), time.Now().UTC().Format(time.RFC3339Nano))
		if err == nil {
			err = conn.QueryRow(qctx, `SELECT (pg_current_wal_lsn() - restart_lsn)::bigint, (pg_current_wal_lsn() - '0/0'::pg_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.Slot).Scan(&retained, &current)
		}
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("heartbeat failed", "err", err)
				s.cfg.Metrics.Error(metrics.ErrorLagPoll)
			}
			conn.Close(context.WithoutCancel(ctx))
			conn = nil
			continue
		}
		if retained != nil {
			s.stats.retained.Store(*retained)
			s.cfg.Metrics.SlotRetained(*retained)
			s.log.Debug("heartbeat", "retained_wal_bytes", *retained)
		}
		if confirmed := s.stats.confirmed.Load(); current != nil && confirmed != 0 {
			s.cfg.Metrics.LagBytes(*current - confirmed)
		}
	}
}
