package iceberg

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"
	"github.com/google/uuid"

	"github.com/tributary-dev/tributary/lake"
)

// MaintainConfig says when Maintain rewrites files and expires snapshots.
// The zero value of every field has a working default.
type MaintainConfig struct {
	// DeletedShare rewrites a data file once this share of its rows is
	// deleted; default 0.2.
	DeletedShare float64
	// SmallFileRows bin-packs the data files of a partition with fewer
	// live rows than this, when it has two or more; default 100,000.
	SmallFileRows int64
	// SnapshotAge expires snapshots older than this; default 1h.
	SnapshotAge time.Duration
	// RetainSnapshots keeps at least this many snapshots; default 20.
	RetainSnapshots int
	// OrphanAge deletes files under the table's location that no
	// snapshot or metadata file references once they are this old;
	// default 1h. Younger files may belong to a commit in progress.
	OrphanAge time.Duration
}

func (c *MaintainConfig) applyDefaults() {
	if c.DeletedShare <= 0 {
		c.DeletedShare = 0.2
	}
	if c.SmallFileRows <= 0 {
		c.SmallFileRows = 100_000
	}
	if c.SnapshotAge <= 0 {
		c.SnapshotAge = time.Hour
	}
	if c.RetainSnapshots <= 0 {
		c.RetainSnapshots = 20
	}
	if c.OrphanAge <= 0 {
		c.OrphanAge = time.Hour
	}
}

var _ lake.Maintainer = (*Table)(nil)

// rewrite is the files one maintenance commit replaces.
type rewrite struct {
	// base is the table the rewrite was planned on; the commit is pinned
	// to its snapshot, the one whose live rows the rewrite keeps.
	base    *table.Table
	files   []int              // index numbers of the data files replaced
	old     []iceberg.DataFile // their manifest entries
	deletes []iceberg.DataFile // position delete files no longer needed
	live    map[int][]liveRow  // by file number, in position order
	groups  map[string][]int   // partition -> file numbers
	values  map[string]map[int]any
}

type liveRow struct {
	pos int64
	key keyHash
}

// Maintain rewrites the data files that carry many deleted rows, and packs
// small files of a partition together, in one snapshot that also drops
// the position delete files it makes useless; then it expires old
// snapshots, which deletes files no snapshot needs any more, and deletes
// the orphan files (see removeOrphans).
func (w *Table) Maintain(ctx context.Context) (lake.MaintainStats, error) {
	start := time.Now()
	var st lake.MaintainStats
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.broken != nil {
		return st, fmt.Errorf("table %s must be opened again: %w", w.name(), w.broken)
	}
	ctx = w.lake.withStorage(ctx)
	if w.index != nil && w.source != nil {
		if err := w.syncIndex(ctx); err != nil {
			return st, err
		}
	}
	// A rewrite would give old rows new sequence numbers (resync.go).
	if w.index != nil && w.tbl.CurrentSnapshot() != nil && !w.checkpoint.Resyncing {
		rw, err := w.planRewrite(ctx)
		if err != nil {
			return st, err
		}
		if len(rw.files) > 0 || len(rw.deletes) > 0 {
			if err := w.applyRewrite(ctx, rw, &st); err != nil {
				return st, err
			}
		}
	}
	n, err := w.expire(ctx)
	if err != nil {
		return st, err
	}
	st.ExpiredSnapshots = n
	if st.RemovedOrphans, err = w.removeOrphans(ctx); err != nil {
		// Orphans cost storage only; the next maintenance tries again.
		w.log.Warn("orphan files not removed", "error", err)
	}
	st.Duration = time.Since(start)
	return st, nil
}

// removeOrphans deletes the files under the table's location (data files,
// delete files, manifests, manifest lists, metadata files) that neither the
// current metadata file nor any of its snapshots reference and that are
// older than OrphanAge: those of failed or abandoned commits, and those a
// snapshot expiry left behind. It reloads the table first, and removes
// nothing when another writer has committed since this one loaded it (its
// files would look orphaned to a stale view).
func (w *Table) removeOrphans(ctx context.Context) (int, error) {
	fresh, err := w.cat.LoadTable(ctx, w.ident)
	if err != nil {
		return 0, fmt.Errorf("table %s: reload: %w", w.name(), err)
	}
	if fresh.MetadataLocation() != w.tbl.MetadataLocation() {
		return 0, nil
	}
	res, err := fresh.DeleteOrphanFiles(ctx, table.WithFilesOlderThan(w.lake.cfg.Maintain.OrphanAge))
	if err != nil {
		return len(res.DeletedFiles), fmt.Errorf("table %s: delete orphan files: %w", w.name(), err)
	}
	if len(res.DeletedFiles) > 0 {
		w.log.Info("orphan files removed", "files", len(res.DeletedFiles), "bytes", res.TotalSizeBytes)
	}
	return len(res.DeletedFiles), nil
}

// planRewrite picks the files to rewrite from the key index and the
// current snapshot.
func (w *Table) planRewrite(ctx context.Context) (*rewrite, error) {
	cfg := w.lake.cfg.Maintain
	tasks, err := w.tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("table %s: plan files: %w", w.name(), err)
	}
	ix := w.index
	live := map[int]int64{}
	for _, l := range ix.keys.All() {
		f, _ := splitLoc(l)
		live[f]++
	}
	rw := &rewrite{base: w.tbl, live: map[int][]liveRow{}, groups: map[string][]int{}, values: map[string]map[int]any{}}
	small := map[string][]int{}
	byNo := map[int]iceberg.DataFile{}
	spec := w.tbl.Spec()
	specID := spec.ID()
	for _, task := range tasks {
		n, ok := ix.byPath[task.File.FilePath()]
		if !ok || int(task.File.SpecID()) != specID {
			continue
		}
		byNo[n] = task.File
		rows, alive := task.File.Count(), live[n]
		part := fmt.Sprint(sortedValues(task.File.Partition()))
		rw.values[part] = task.File.Partition()
		switch {
		case rows > 0 && float64(rows-alive)/float64(rows) >= cfg.DeletedShare:
			rw.groups[part] = append(rw.groups[part], n)
		case alive < cfg.SmallFileRows:
			small[part] = append(small[part], n)
		}
	}
	for part, files := range small {
		if len(files) >= 2 || len(rw.groups[part]) > 0 {
			rw.groups[part] = append(rw.groups[part], files...)
		}
	}
	chosen := map[string]bool{}
	for _, files := range rw.groups {
		for _, n := range files {
			rw.files = append(rw.files, n)
			rw.old = append(rw.old, byNo[n])
			chosen[ix.files[n].path] = true
		}
	}
	liveFiles := map[string]bool{}
	for _, task := range tasks {
		liveFiles[task.File.FilePath()] = true
	}
	if rw.deletes, err = w.uselessDeletes(ctx, liveFiles, chosen); err != nil || len(rw.files) == 0 {
		return rw, err
	}
	for key, l := range ix.keys.All() {
		if f, pos := splitLoc(l); chosen[ix.files[f].path] {
			rw.live[f] = append(rw.live[f], liveRow{pos, key})
		}
	}
	for _, rows := range rw.live {
		slices.SortFunc(rows, func(a, b liveRow) int { return int(a.pos - b.pos) })
	}
	return rw, nil
}

// uselessDeletes returns the live position delete files of the current
// snapshot whose every row points into a data file being rewritten
// (chosen) or no longer live: those of files a rewrite or a copy-on-write
// commit replaced while the delete file also pointed elsewhere, which no
// rewrite would ever choose all at once.
func (w *Table) uselessDeletes(ctx context.Context, live, chosen map[string]bool) ([]iceberg.DataFile, error) {
	fs, err := w.tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	manifests, err := w.tbl.CurrentSnapshot().Manifests(fs)
	if err != nil {
		return nil, fmt.Errorf("table %s: read manifest list: %w", w.name(), err)
	}
	seen := map[string]bool{}
	var out []iceberg.DataFile
	for _, m := range manifests {
		if m.ManifestContent() != iceberg.ManifestContentDeletes {
			continue
		}
		entries, err := m.FetchEntries(fs, true)
		if err != nil {
			return nil, fmt.Errorf("table %s: read manifest %s: %w", w.name(), m.FilePath(), err)
		}
		for _, e := range entries {
			d := e.DataFile()
			if d.ContentType() != iceberg.EntryContentPosDeletes || seen[d.FilePath()] {
				continue
			}
			seen[d.FilePath()] = true
			targets, ok := w.deleteTargets[d.FilePath()]
			if !ok {
				byPath := map[string][]int64{}
				if err := readPositionDeletes(ctx, fs, d.FilePath(), byPath); err != nil {
					return nil, err
				}
				targets = slices.Sorted(maps.Keys(byPath))
			}
			if !slices.ContainsFunc(targets, func(p string) bool { return live[p] && !chosen[p] }) {
				out = append(out, d)
			}
			if w.deleteTargets == nil {
				w.deleteTargets = map[string][]string{}
			}
			w.deleteTargets[d.FilePath()] = targets
		}
	}
	maps.DeleteFunc(w.deleteTargets, func(p string, _ []string) bool { return !seen[p] })
	return out, nil
}

// applyRewrite writes one data file per partition of the live rows of the
// chosen files and commits the replacement.
func (w *Table) applyRewrite(ctx context.Context, rw *rewrite, st *lake.MaintainStats) error {
	wfs, err := w.fileIO(ctx)
	if err != nil {
		return err
	}
	_, fsc, asc, err := w.fileSchemas()
	if err != nil {
		return err
	}
	var added []writtenData
	for _, part := range slices.Sorted(maps.Keys(rw.groups)) {
		files := rw.groups[part]
		if wd, ok, err := w.packFiles(ctx, wfs, fsc, asc, files, rw, rw.values[part]); err != nil {
			return err
		} else if ok {
			added = append(added, wd)
		}
	}
	var newFiles []iceberg.DataFile
	for _, a := range added {
		newFiles = append(newFiles, a.df)
	}
	props := iceberg.Properties{SummaryCheckpoint: encodeCheckpoint(w.checkpoint), SummaryCommitID: uuid.NewString(), "tributary.operation": "rewrite"}
	// Pinned to the snapshot the rewrite was planned on: its live rows are
	// those of that snapshot, and on top of a later one (a commit since,
	// deleting or moving rows out of the files packed) they would come
	// back as second live copies of their keys.
	txn := rw.base.NewTransaction()
	if err := txn.AssertRefSnapshotID(table.MainBranch); err != nil {
		return err
	}
	if err := txn.ReplaceFiles(ctx, rw.old, newFiles, rw.deletes, props); err != nil {
		return fmt.Errorf("table %s: stage rewrite: %w", w.name(), err)
	}
	tbl, err := txn.Commit(ctx)
	if err != nil {
		if isConflict(err) {
			err = fmt.Errorf("%w: %w", lake.ErrConflict, err)
		}
		w.broken = err
		return fmt.Errorf("table %s: commit rewrite: %w", w.name(), err)
	}
	w.tbl = tbl
	w.index.snapshot = tbl.CurrentSnapshot().SnapshotID
	for _, n := range rw.files {
		w.index.files[n].removed = true
	}
	for _, a := range added {
		n, err := w.index.addFile(&dataFile{path: a.df.FilePath(), partition: a.df.Partition(), specID: int(a.df.SpecID()), rows: a.df.Count(), df: a.df})
		if err != nil {
			w.index = nil
			w.broken = err
			return err
		}
		w.index.setKeys(n, a.keys)
	}
	// Rows deleted before the rewrite may live in files now gone.
	w.index.deleted = nil
	st.RewrittenFiles, st.NewFiles, st.RemovedDeleteFiles = len(rw.old), len(newFiles), len(rw.deletes)
	w.log.Info("files rewritten", "data_files", len(rw.old), "into", len(newFiles), "delete_files_removed", len(rw.deletes))
	return nil
}

// packFiles reads the live rows of files (one partition) and writes them
// as one data file. ok is false when no row is live.
func (w *Table) packFiles(ctx context.Context, wfs icebergio.WriteFileIO, sc *iceberg.Schema, asc *arrow.Schema, files []int, rw *rewrite, values map[int]any) (writtenData, bool, error) {
	ids := make([]int, 0, len(sc.Fields()))
	for _, f := range sc.Fields() {
		ids = append(ids, f.ID)
	}
	cols := make([][]arrow.Array, len(ids))
	var keys []keyHash
	defer func() {
		for _, c := range cols {
			for _, a := range c {
				a.Release()
			}
		}
	}()
	for _, n := range files {
		rows := rw.live[n]
		if len(rows) == 0 {
			continue
		}
		path := w.index.files[n].path
		err := readBatches(ctx, wfs, path, ids, func(first int64, count int, arrs []arrow.Array) error {
			for len(rows) > 0 && rows[0].pos < first+int64(count) {
				// A run of consecutive live rows becomes one slice.
				i := 1
				for i < len(rows) && rows[i].pos == rows[i-1].pos+1 && rows[i].pos < first+int64(count) {
					i++
				}
				from, to := rows[0].pos-first, rows[i-1].pos-first+1
				for c, a := range arrs {
					if a == nil {
						cols[c] = append(cols[c], array.MakeArrayOfNull(memory.DefaultAllocator, asc.Field(c).Type, int(to-from)))
						continue
					}
					if !arrow.TypeEqual(a.DataType(), asc.Field(c).Type) {
						return fmt.Errorf("column %s is %s in %s, %s in the table; it is not rewritten", asc.Field(c).Name, a.DataType(), path, asc.Field(c).Type)
					}
					cols[c] = append(cols[c], array.NewSlice(a, from, to))
				}
				for _, r := range rows[:i] {
					keys = append(keys, r.key)
				}
				rows = rows[i:]
			}
			return nil
		})
		if err != nil {
			return writtenData{}, false, fmt.Errorf("table %s: rewrite: %w", w.name(), err)
		}
	}
	if len(keys) == 0 {
		return writtenData{}, false, nil
	}
	arrs := make([]arrow.Array, len(cols))
	for c, parts := range cols {
		a, err := array.Concatenate(parts, memory.DefaultAllocator)
		if err != nil {
			return writtenData{}, false, fmt.Errorf("table %s: rewrite: %w", w.name(), err)
		}
		defer a.Release()
		arrs[c] = a
	}
	rec := array.NewRecordBatch(asc, arrs, int64(len(keys)))
	defer rec.Release()
	path := w.newFilePath(partitionPath(w.tbl.Spec(), values), "")
	meta, size, err := writeParquet(wfs, path, rec, w.dataProps(w.source))
	if err != nil {
		return writtenData{}, false, err
	}
	df, err := table.DataFileFromMetadata(table.DataFileArgs{
		Schema: sc, Spec: w.tbl.Spec(), Format: iceberg.ParquetFile, Metadata: meta,
		FilePath: path, FileSize: size, Content: iceberg.EntryContentData, PartitionValues: values,
		SortOrderID: w.tbl.SortOrder().OrderID(), Properties: w.tbl.Properties(), FormatVersion: w.tbl.Metadata().Version(),
	})
	if err != nil {
		return writtenData{}, false, fmt.Errorf("data file %s: %w", path, err)
	}
	return writtenData{df: df, keys: keys}, true, nil
}

// expire drops snapshots older than the configured age, keeping the
// newest ones, and returns how many it dropped.
func (w *Table) expire(ctx context.Context) (int, error) {
	cfg := w.lake.cfg.Maintain
	before := len(w.tbl.Metadata().Snapshots())
	if before <= cfg.RetainSnapshots {
		return 0, nil
	}
	txn := w.tbl.NewTransaction()
	if err := txn.ExpireSnapshots(table.WithOlderThan(cfg.SnapshotAge), table.WithRetainLast(cfg.RetainSnapshots)); err != nil {
		return 0, fmt.Errorf("table %s: expire snapshots: %w", w.name(), err)
	}
	tbl, err := txn.Commit(ctx)
	if err != nil {
		w.broken = err
		return 0, fmt.Errorf("table %s: commit snapshot expiry: %w", w.name(), err)
	}
	w.tbl = tbl
	return before - len(tbl.Metadata().Snapshots()), nil
}
