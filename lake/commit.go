package lake

import "time"

// LastCommitter is a Table that describes its last ingestion commit (not
// a maintenance one), so that a compactor can repeat that commit's
// notification when it opens the table.
type LastCommitter interface {
	// LastCommit returns the newest ingestion commit; false when the
	// table has none.
	LastCommit() (Commit, bool)
}

// Commit describes one ingestion commit of a table.
type Commit struct {
	// Stats are the commit's counts as the table records them; Duration
	// is zero.
	Stats Stats
	// Checkpoint is the Kafka position the commit reached.
	Checkpoint Checkpoint
	// At is when the commit happened.
	At time.Time
}
