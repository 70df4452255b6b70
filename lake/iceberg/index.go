package iceberg

import (
	"context"
	"fmt"
	"slices"

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
}

// keyIndex maps each live row's key (lake.KeyOf) to its location: file
// number and row position. It costs about 40 bytes plus the key's length
// per live row.
type keyIndex struct {
	keys   map[string]uint64
	files  []*dataFile
	byPath map[string]int
	// deleted maps the source position of recent delete changes to the
	// location of the row each removed, newest commit first, for the
	// create half of a key change that leaves TOAST columns unchanged.
	deleted []map[string]uint64
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
	return &keyIndex{keys: map[string]uint64{}, byPath: map[string]int{}}
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
	if tbl.CurrentSnapshot() == nil {
		return ix, nil
	}
	tasks, err := tbl.Scan().PlanFiles(ctx)
	if err != nil {
		return nil, fmt.Errorf("plan files: %w", err)
	}
	fs, err := tbl.FS(ctx)
	if err != nil {
		return nil, err
	}
	deleted := map[string][]int64{} // data file path -> sorted deleted positions
	readDeletes := map[string]bool{}
	for _, task := range tasks {
		if len(task.EqualityDeleteFiles) > 0 || len(task.DeletionVectorFiles) > 0 {
			return nil, fmt.Errorf("data file %s has equality deletes or deletion vectors, which tributary does not write; rewrite the table without them", task.File.FilePath())
		}
		for _, d := range task.DeleteFiles {
			if readDeletes[d.FilePath()] {
				continue
			}
			readDeletes[d.FilePath()] = true
			if err := readPositionDeletes(ctx, fs, d.FilePath(), deleted); err != nil {
				return nil, err
			}
		}
	}
	for _, positions := range deleted {
		slices.Sort(positions)
	}
	for _, task := range tasks {
		df := task.File
		f := &dataFile{path: df.FilePath(), partition: df.Partition(), specID: int(df.SpecID()), rows: df.Count()}
		n, err := ix.addFile(f)
		if err != nil {
			return nil, err
		}
		dels := slices.Compact(deleted[f.path])
		f.deleted = int64(len(dels))
		err = kr.read(ctx, fs, f.path, func(pos int64, key string) error {
			for len(dels) > 0 && dels[0] < pos {
				dels = dels[1:]
			}
			if len(dels) > 0 && dels[0] == pos {
				return nil
			}
			if old, dup := ix.keys[key]; dup {
				of, op := splitLoc(old)
				return fmt.Errorf("key %s is live twice: %s row %d and %s row %d", key, ix.files[of].path, op, f.path, pos)
			}
			ix.keys[key] = loc(n, pos)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return ix, nil
}

// read calls fn with the position and key of every row of a data file.
func (kr *keyReader) read(ctx context.Context, fs icebergio.IO, path string, fn func(pos int64, key string) error) error {
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
		return fn(pos, string(buf))
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
