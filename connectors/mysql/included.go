package mysql

import (
	"context"
)

// addIncluded queues a snapshot of every table the configuration captures
// that the checkpoint does not know: a table added to tables.include (or
// granted to the reader) while the reader was stopped. Its existing rows
// would otherwise never reach Kafka, only its later changes. A table the
// reader cannot capture (no key, an unsupported type) fails here, at
// start, rather than at its first change.
func (r *reader) addIncluded(ctx context.Context) error {
	ids, err := r.reg.listTables()
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, known := r.cp.Tables[id.String()]; known {
			continue
		}
		if t := r.reg.tables[id]; t != nil && t.skip {
			continue
		}
		r.s.log.Info("table newly captured: snapshotting it while streaming", "table", id)
		if err := r.reload(ctx, id, !r.s.cfg.NoSnapshot); err != nil {
			return err
		}
	}
	return nil
}
