package lake

// Sizer is a Table that reports figures of its current snapshot, for
// metrics. Size is cheap (no I/O) and, like Apply, not called
// concurrently with Apply or Maintain.
type Sizer interface {
	Size() Size
}

// Size describes a table's current snapshot.
type Size struct {
	// DeleteFiles and PositionDeletes count the position delete files and
	// the rows they delete: the delete-file debt maintenance folds away.
	DeleteFiles, PositionDeletes int64
	// AddedBytes is the size of the files the snapshot added.
	AddedBytes int64
	// DataFiles counts the live data files.
	DataFiles int64
}
