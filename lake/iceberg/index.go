package iceberg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/apache/iceberg-go"
	icebergio "github.com/apache/iceberg-go/io"
	"github.com/apache/iceberg-go/table"

	"github.com/tributary-dev/tributary/lake"
	"github.com/tributary-dev/tributary/schema"
)

// posBits is how many bits of a location hold the row position; the rest
// hold the file number. 2^40 rows per file and 2^24 files per table.
const posBits = 40

// dataFile is a live data file of the table.
type dataFile struct {
	path      string
	partition map[int]any // spec field id -> partition value
	specID    int
	rows      int64 // record count
	deleted   int64 // rows removed by position deletes
	// df is the file's manifest entry, for commits that remove it
	// (copy-on-write).
	df iceberg.DataFile
	// removed is set once a snapshot removed the file (a rewrite).
	removed bool
}

// keyHash is lake.KeyHash: the key index holds hashes of keys.
type keyHash = lake.KeyHash

// keyIndex maps each live row's key (lake.KeyOf, hashed) to its location:
// file number and row position. It costs 32 to 64 bytes per live row.
type keyIndex struct {
	keys   keyTable
	files  []*dataFile
	byPath map[string]int
	// deleted maps the source position of recent delete changes to the
	// location of the row each removed, newest commit first, for the
	// create half of a key change that leaves TOAST columns unchanged.
	deleted []map[string]uint64
	// snapshot is the id of the snapshot the index reflects; 0 before the
	// table's first snapshot.
	snapshot int64
}

// keepDeleted is how many commits' deletes keyIndex.deleted remembers.
const keepDeleted = 4

// deletedAt returns the location of the row removed by the delete change
// at a source position in one of the last commits.
func (ix *keyIndex) deletedAt(pos string) (uint64, bool) {
	for _, m := range ix.deleted {
		if l, ok := m[pos]; ok {
			return l, true
		}
	}
	return 0, false
}

func newKeyIndex() *keyIndex {
	return &keyIndex{byPath: map[string]int{}}
}

// setKeys records the keys of data file n, in row order.
func (ix *keyIndex) setKeys(n int, keys []keyHash) {
	slots := make([]keySlot, len(keys))
	for pos, k := range keys {
		slots[pos] = keySlot{k, loc(n, int64(pos))}
	}
	ix.keys.setAll(slots)
}

func loc(file int, pos int64) uint64 { return uint64(file)<<posBits | uint64(pos) }

func splitLoc(l uint64) (file int, pos int64) {
	return int(l >> posBits), int64(l & (1<<posBits - 1))
}

// addFile registers a data file and returns its number.
func (ix *keyIndex) addFile(f *dataFile) (int, error) {
	if n, ok := ix.byPath[f.path]; ok {
		return n, nil
	}
	n := len(ix.files)
	if n >= 1<<(64-posBits) {
		return 0, fmt.Errorf("key index: more than %d data files; run maintenance", 1<<(64-posBits))
	}
	ix.files = append(ix.files, f)
	ix.byPath[f.path] = n
	return n, nil
}

// keyReader reads the key columns of data files.
type keyReader struct {
	fieldIDs []int         // lake field ids of the key columns, in key order
	keyTable *schema.Table // the key columns alone, for lake.AppendKey
}

// newKeyReader returns a reader of t's key columns in lake schema sc.
func newKeyReader(sc *iceberg.Schema, t *schema.Table) (*keyReader, error) {
	kr := &keyReader{keyTable: &schema.Table{ID: t.ID}}
	for n, i := range t.KeyIndex {
		c := t.Columns[i]
		f, ok := sc.FindFieldByName(c.Name)
		if !ok {
			return nil, fmt.Errorf("table %s: key column %s is not in the lake table", t.ID, c.Name)
		}
		kr.fieldIDs = append(kr.fieldIDs, f.ID)
		kr.keyTable.Columns = append(kr.keyTable.Columns, c)
		kr.keyTable.Key = append(kr.keyTable.Key, c.Name)
		kr.keyTable.KeyIndex = append(kr.keyTable.KeyIndex, n)
	}
	return kr, nil
}

// buildIndex reads the key columns of every live data file of the table's
// current snapshot, minus the rows its position deletes remove.
func buildIndex(ctx context.Context, tbl *table.Table, kr *keyReader) (*keyIndex, error) {
	ix := newKeyIndex()
	cur := tbl.CurrentSnapshot()
	if cur == nil {
		return ix, nil
	}
	ix.snapshot = cur.SnapshotID
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan files: %w", err)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	var deleteFiles []string
	readDeletes := map[string]bool{}
	for _, task := range tasks {
		if len(task.EqualityDeleteFiles) > 0 || len(task.DeletionVectorFiles) > 0 {
			return nil, fmt.Errorf("data file %s has equality deletes or deletion vectors, which tributary does not write; rewrite the table without them", task.File.FilePath())
		}
		for _, d := range task.DeleteFiles {
			if !readDeletes[d.FilePath()] {
				readDeletes[d.FilePath()] = true
				deleteFiles = append(deleteFiles, d.FilePath())
			}
		}
	}
	deleted, err := readAllPositionDeletes(ctx, fs, deleteFiles)
	if err != nil {
		return nil, err
	}
	files := make([]iceberg.DataFile, len(tasks))
	for i, task := range tasks {
		files[i] = task.File
	}
	rows, err := readKeys(ctx, fs, kr, files, deleted)
	if err != nil {
		return nil, err
	}
	if err := ix.addDataFiles(files, rows, deleted); err != nil {
		return nil, err
	}
	return ix, nil
}

// readParallel is how many files the index reads at once: object stores
// answer each request slowly, not many requests slowly.
const readParallel = 8

// forEach calls fn for 0..n-1, readParallel at a time, and returns the
// first error.
func forEach(ctx context.Context, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, readParallel)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if errs[i] = fn(ctx, i); errs[i] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// readAllPositionDeletes reads position delete files, in parallel, and
// returns the deleted positions by data file path, sorted and unique.
func readAllPositionDeletes(ctx context.Context, fs icebergio.IO, paths []string) (map[string][]int64, error) {
	parts := make([]map[string][]int64, len(paths))
	err := forEach(ctx, len(paths), func(ctx context.Context, i int) error {
		parts[i] = map[string][]int64{}
		return readPositionDeletes(ctx, fs, paths[i], parts[i])
	})
	if err != nil {
		return nil, err
	}
	deleted := map[string][]int64{}
	for _, m := range parts {
		for f, pos := range m {
			deleted[f] = append(deleted[f], pos...)
		}
	}
	for f, positions := range deleted {
		slices.Sort(positions)
		deleted[f] = slices.Compact(positions)
	}
	return deleted, nil
}

// keyAt is one row of a data file.
type keyAt struct {
	pos int64
	key keyHash
}

// readKeys reads the keys of data files (in parallel), skipping the
// positions deleted removes (by path, sorted).
func readKeys(ctx context.Context, fs icebergio.IO, kr *keyReader, files []iceberg.DataFile, deleted map[string][]int64) ([][]keyAt, error) {
	rows := make([][]keyAt, len(files))
	err := forEach(ctx, len(files), func(ctx context.Context, i int) error {
		dels := deleted[files[i].FilePath()]
		out := make([]keyAt, 0, max(0, int(files[i].Count())-len(dels)))
		err := kr.read(ctx, fs, files[i].FilePath(), func(pos int64, key keyHash) error {
			for len(dels) > 0 && dels[0] < pos {
				dels = dels[1:]
			}
			if len(dels) > 0 && dels[0] == pos {
				return nil
			}
			out = append(out, keyAt{pos, key})
			return nil
		})
		rows[i] = out
		return err
	})
	return rows, err
}

// addDataFiles registers data files with the keys readKeys returned for
// them. A key already live in the index is an error.
func (ix *keyIndex) addDataFiles(files []iceberg.DataFile, rows [][]keyAt, deleted map[string][]int64) error {
	// Room for every key at once: growing file by file rehashed the table
	// about log2(rows) times (a third of the time of 5 million keys added
	// from 100 files).
	total := 0
	for _, r := range rows {
		total += len(r)
	}
	ix.keys.reserve(total)
	for i, df := range files {
		f := &dataFile{path: df.FilePath(), partition: df.Partition(), specID: int(df.SpecID()), rows: df.Count(), df: df}
		f.deleted = int64(len(deleted[f.path]))
		n, err := ix.addFile(f)
		if err != nil {
			return err
		}
		for _, r := range rows[i] {
			if old, dup := ix.keys.Get(r.key); dup {
				of, op := splitLoc(old)
				return fmt.Errorf("a key is live twice: %s row %d and %s row %d", ix.files[of].path, op, f.path, r.pos)
			}
			ix.keys.Set(r.key, loc(n, r.pos))
		}
	}
	return nil
}

// errRebuild says the index cannot follow the table's new snapshots and
// must be built again from the current snapshot.
var errRebuild = errors.New("key index must be rebuilt")

// maxRefreshSnapshots caps the snapshots a refresh replays; beyond it a
// rebuild reads fewer manifests.
const maxRefreshSnapshots = 1000

// refresh brings the index from the snapshot it reflects to the table's
// current snapshot by replaying the snapshots committed since: the keys of
// added data files are read, the positions of added position delete files
// dropped, and the keys of removed data files (a rewrite) dropped, their
// surviving rows coming back through the rewrite's added files. It returns
// errRebuild (wrapped) when the index's snapshot is not an ancestor of the
// current one (or has expired), or when a snapshot does something the
// index cannot replay; the index is then unusable.
func (ix *keyIndex) refresh(ctx context.Context, tbl *table.Table, kr *keyReader) (int, error) {
	cur := tbl.CurrentSnapshot()
	if cur == nil {
		if ix.snapshot == 0 {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: the table has no snapshot", errRebuild)
	}
	var chain []*table.Snapshot
	meta := tbl.Metadata()
	for s := cur; s.SnapshotID != ix.snapshot; {
		chain = append(chain, s)
		if len(chain) > maxRefreshSnapshots {
			return 0, fmt.Errorf("%w: more than %d new snapshots", errRebuild, maxRefreshSnapshots)
		}
		if s.ParentSnapshotID == nil {
			if ix.snapshot == 0 {
				break
			}
			return 0, fmt.Errorf("%w: snapshot %d is not an ancestor of %d", errRebuild, ix.snapshot, cur.SnapshotID)
		}
		if s = meta.SnapshotByID(*s.ParentSnapshotID); s == nil {
			return 0, fmt.Errorf("%w: snapshot %d expired", errRebuild, ix.snapshot)
		}
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return 0, err
	}
	// All reads first, so that a storage error leaves the index as it was.
	loaded := make([]*snapshotChanges, 0, len(chain))
	for _, s := range slices.Backward(chain) {
		ch, err := loadChanges(ctx, fs, kr, s)
		if err != nil {
			return 0, fmt.Errorf("snapshot %d: %w", s.SnapshotID, err)
		}
		loaded = append(loaded, ch)
	}
	for i, ch := range loaded {
		if err := ix.replay(ch); err != nil {
			ix.snapshot = -1 // partly replayed: unusable
			return 0, fmt.Errorf("snapshot %d: %w", chain[len(chain)-1-i].SnapshotID, err)
		}
	}
	ix.snapshot = cur.SnapshotID
	return len(chain), nil
}

// snapshotChanges are the files one snapshot added and removed, with what
// the index needs of them.
type snapshotChanges struct {
	added, removed            []iceberg.DataFile
	addedDeletes, removedDels []iceberg.DataFile
	// deleted holds the positions the added delete files remove, and
	// targets those the removed ones did, by data file path; keys the
	// keys of the added data files.
	deleted, targets map[string][]int64
	keys             [][]keyAt
}

// changesOf reads the entries a snapshot added or removed, from the
// manifests it wrote.
func changesOf(fs icebergio.IO, s *table.Snapshot) (*snapshotChanges, error) {
	manifests, err := s.Manifests(fs)
	if err != nil {
		return nil, fmt.Errorf("read manifest list: %w", err)
	}
	ch := &snapshotChanges{}
	for _, m := range manifests {
		if m.SnapshotID() != s.SnapshotID {
			continue // written by an earlier snapshot: nothing of this one
		}
		for e, err := range m.Entries(fs, false) {
			if err != nil {
				return nil, fmt.Errorf("read manifest %s: %w", m.FilePath(), err)
			}
			if e.SnapshotID() != s.SnapshotID || e.Status() == iceberg.EntryStatusEXISTING {
				continue
			}
			df := e.DataFile()
			added := e.Status() == iceberg.EntryStatusADDED
			switch df.ContentType() {
			case iceberg.EntryContentData:
				if added {
					ch.added = append(ch.added, df)
				} else {
					ch.removed = append(ch.removed, df)
				}
			case iceberg.EntryContentPosDeletes:
				if df.FileFormat() != iceberg.ParquetFile {
					return nil, fmt.Errorf("%w: delete file %s is %s", errRebuild, df.FilePath(), df.FileFormat())
				}
				if added {
					ch.addedDeletes = append(ch.addedDeletes, df)
				} else {
					ch.removedDels = append(ch.removedDels, df)
				}
			default:
				return nil, fmt.Errorf("%w: equality delete file %s", errRebuild, df.FilePath())
			}
		}
	}
	return ch, nil
}

// loadChanges reads what the index needs of one snapshot's changes.
func loadChanges(ctx context.Context, fs icebergio.IO, kr *keyReader, s *table.Snapshot) (*snapshotChanges, error) {
	ch, err := changesOf(fs, s)
	if err != nil {
		return nil, err
	}
	paths := func(files []iceberg.DataFile) []string {
		out := make([]string, len(files))
		for i, d := range files {
			out[i] = d.FilePath()
		}
		return out
	}
	if ch.targets, err = readAllPositionDeletes(ctx, fs, paths(ch.removedDels)); err != nil {
		return nil, err
	}
	if ch.deleted, err = readAllPositionDeletes(ctx, fs, paths(ch.addedDeletes)); err != nil {
		return nil, err
	}
	if ch.keys, err = readKeys(ctx, fs, kr, ch.added, ch.deleted); err != nil {
		return nil, err
	}
	return ch, nil
}

// replay applies one snapshot's changes to the index.
func (ix *keyIndex) replay(ch *snapshotChanges) error {
	// Removed data files: their keys go; a rewrite adds the survivors back.
	gone := map[int]bool{}
	for _, df := range ch.removed {
		if n, ok := ix.byPath[df.FilePath()]; ok && !ix.files[n].removed {
			gone[n] = true
			ix.files[n].removed = true
		}
	}
	if len(gone) > 0 {
		ix.keys.DeleteFunc(func(_ keyHash, l uint64) bool {
			f, _ := splitLoc(l)
			return gone[f]
		})
		ix.deleted = nil // rows deleted earlier may live in files now gone
	}
	// A removed delete file must only point into removed files, or its
	// rows would come back.
	for p := range ch.targets {
		if n, ok := ix.byPath[p]; ok && !ix.files[n].removed {
			return fmt.Errorf("%w: a removed delete file pointed into live data file %s", errRebuild, p)
		}
	}
	ix.dropPositions(ch.deleted)
	if err := ix.addDataFiles(ch.added, ch.keys, ch.deleted); err != nil {
		return fmt.Errorf("%w: %w", errRebuild, err)
	}
	return nil
}

// dropPositions removes the keys at deleted positions (sorted, by data
// file path) of the files already in the index.
func (ix *keyIndex) dropPositions(deleted map[string][]int64) {
	targets := map[int][]int64{}
	for p, pos := range deleted {
		if n, ok := ix.byPath[p]; ok {
			targets[n] = pos
			ix.files[n].deleted += int64(len(pos))
		}
	}
	if len(targets) == 0 {
		return
	}
	ix.keys.DeleteFunc(func(_ keyHash, l uint64) bool {
		f, pos := splitLoc(l)
		if dels, ok := targets[f]; ok {
			_, found := slices.BinarySearch(dels, pos)
			return found
		}
		return false
	})
}

// read calls fn with the position and key of every row of a data file.
func (kr *keyReader) read(ctx context.Context, fs icebergio.IO, path string, fn func(pos int64, key keyHash) error) error {
	img := make([]any, len(kr.fieldIDs))
	buf := make([]byte, 0, 64)
	types := make([]schema.Type, len(kr.fieldIDs))
	for i, c := range kr.keyTable.Columns {
		types[i] = c.Type
	}
	return readColumns(ctx, fs, path, kr.fieldIDs, func(pos int64, cols []columnValue) error {
		for i, c := range cols {
			v, err := valueAt(c.arr, types[i], c.row)
			if err != nil {
				return fmt.Errorf("%s key column %s: %w", path, kr.keyTable.Columns[i].Name, err)
			}
			img[i] = v
		}
		var err error
		if buf, err = lake.AppendKey(buf[:0], kr.keyTable, img); err != nil {
			return fmt.Errorf("%s row %d: %w", path, pos, err)
		}
		return fn(pos, lake.HashKeyBytes(buf))
	})
}

// readPositionDeletes adds the positions a position delete file removes to
// deleted, by data file path.
func readPositionDeletes(ctx context.Context, fs icebergio.IO, path string, deleted map[string][]int64) error {
	pathField, _ := iceberg.PositionalDeleteSchema.FindFieldByName("file_path")
	posField, _ := iceberg.PositionalDeleteSchema.FindFieldByName("pos")
	return readColumns(ctx, fs, path, []int{pathField.ID, posField.ID}, func(_ int64, cols []columnValue) error {
		file, err := valueAt(cols[0].arr, schema.Type{Kind: schema.KindString}, cols[0].row)
		if err != nil {
			return err
		}
		pos, err := valueAt(cols[1].arr, schema.Type{Kind: schema.KindInt64}, cols[1].row)
		if err != nil {
			return err
		}
		s, ok1 := file.(string)
		p, ok2 := pos.(int64)
		if !ok1 || !ok2 {
			return fmt.Errorf("position delete file %s has a null file_path or pos", path)
		}
		deleted[s] = append(deleted[s], p)
		return nil
	})
}
