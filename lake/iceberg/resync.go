package iceberg

import (
	"context"
	"fmt"

	"github.com/apache/iceberg-go"

	"github.com/tributary-dev/tributary/lake"
)

// A resync (lake.Resync) marks the rows the table holds when it begins by
// the table's last sequence number at that moment: every row in a data
// file whose data sequence number is at most the mark is old. Every batch
// since commits new files with higher sequence numbers, and replaces or
// deletes old rows with position deletes, so at the end the old rows
// still live are exactly those nothing rewrote: the end deletes them.
// Maintenance does not rewrite files while a resync runs, since a
// rewritten file would take a new sequence number and its old rows would
// pass for new ones.

// resyncState returns the resync state of the table once batch b is
// applied.
func (w *Table) resyncState(b *lake.Batch) (resyncing bool, mark int64) {
	switch {
	case b.Truncate, b.Resync == lake.ResyncEnd:
		return false, 0
	case b.Resync == lake.ResyncBegin:
		return true, w.tbl.Metadata().LastSequenceNumber()
	}
	return w.checkpoint.Resyncing, w.checkpoint.ResyncMark
}

// planResyncEnd adds to p the position deletes of every live row that was
// in the table when the resync began and that no batch since rewrote.
func (w *Table) planResyncEnd(ctx context.Context, p *plan) error {
	if !w.checkpoint.Resyncing {
		w.log.Warn("resync end without a resync in progress; nothing to remove")
		return nil
	}
	old, err := w.oldFiles(ctx, w.checkpoint.ResyncMark)
	if err != nil {
		return fmt.Errorf("table %s resync end: %w", w.name(), err)
	}
	if len(old) == 0 {
		return nil
	}
	for k, l := range w.index.keys.All() {
		f, pos := splitLoc(l)
		if old[f] {
			p.deletes[f] = append(p.deletes[f], pos)
			p.ndelete++
			p.gone = append(p.gone, k)
		}
	}
	w.log.Info("resync end: removing rows the source no longer holds", "rows", p.ndelete, "old_files", len(old))
	return nil
}

// oldFiles returns the numbers, in the key index, of the live data files
// whose data sequence number is at most mark.
func (w *Table) oldFiles(ctx context.Context, mark int64) (map[int]bool, error) {
	snap := w.tbl.CurrentSnapshot()
	if snap == nil {
		return nil, nil
	}
	fs, err := w.tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	manifests, err := snap.Manifests(fs)
	if err != nil {
		return nil, fmt.Errorf("read manifest list: %w", err)
	}
	old := map[int]bool{}
	for _, m := range manifests {
		if m.ManifestContent() != iceberg.ManifestContentData {
			continue
		}
		entries, err := m.FetchEntries(fs, true)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", m.FilePath(), err)
		}
		for _, e := range entries {
			seq := e.SequenceNum()
			if seq < 0 {
				return nil, fmt.Errorf("manifest %s: data file %s has no sequence number", m.FilePath(), e.DataFile().FilePath())
			}
			if seq > mark {
				continue
			}
			if n, ok := w.index.byPath[e.DataFile().FilePath()]; ok && !w.index.files[n].removed {
				old[n] = true
			}
		}
	}
	return old, nil
}
