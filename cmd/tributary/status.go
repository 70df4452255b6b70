package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/tributary-dev/tributary/config"
	"github.com/tributary-dev/tributary/connectors"
	"github.com/tributary-dev/tributary/connectors/kafka"
	"github.com/tributary-dev/tributary/lake/iceberg"
)

// statusReport is what `tributary status` prints.
type statusReport struct {
	At      time.Time        `json:"at"`
	Sources []sourceReport   `json:"sources"`
	Tables  []lakeTableState `json:"lake_tables"`
}

type sourceReport struct {
	Name string `json:"name"`
	Type string `json:"type"`
	// State is the live state from the process's /status (running,
	// paused, stopped) or "unknown" when no process answered.
	State      string    `json:"state"`
	StateError string    `json:"state_error,omitempty"`
	Position   string    `json:"position,omitempty"`
	SourceTime time.Time `json:"source_time,omitzero"`
	Heartbeat  time.Time `json:"last_commit,omitzero"`
	// LagBytes and LagSeconds are the source's distance ahead of the
	// checkpoint (-1: unknown).
	LagBytes   int64   `json:"lag_bytes"`
	LagSeconds float64 `json:"lag_seconds"`
	// RetainedWALBytes is the WAL the PostgreSQL slot holds (-1: n/a).
	RetainedWALBytes int64         `json:"retained_wal_bytes"`
	Tables           []tableReport `json:"tables,omitempty"`
	Error            string        `json:"error,omitempty"`
	prefix           string
}

type tableReport struct {
	Table    string  `json:"table"`
	Snapshot string  `json:"snapshot"`
	Rows     int64   `json:"snapshot_rows"`
	Estimate int64   `json:"snapshot_estimate,omitempty"`
	Percent  float64 `json:"snapshot_percent,omitempty"`
	ETA      string  `json:"snapshot_eta,omitempty"`
}

type lakeTableState struct {
	Table      string    `json:"table"`
	Topic      string    `json:"topic"`
	SnapshotID int64     `json:"snapshot_id"`
	LastCommit time.Time `json:"last_commit,omitzero"`
	// KafkaLag counts the records (and transaction markers) in the
	// topic past the table's last commit.
	KafkaLag int64 `json:"kafka_lag"`
	// CompleteThrough is the source time up to which the table holds
	// every change, when the table has applied its whole topic.
	CompleteThrough time.Time `json:"complete_through,omitzero"`
	// NewestSourceTime is the newest source commit time applied.
	NewestSourceTime time.Time `json:"newest_source_time,omitzero"`
	// Resyncing is set while the table takes a snapshot of its source
	// again (between resync markers): it may still hold rows the source
	// deleted, which go when the snapshot ends.
	Resyncing bool `json:"resyncing,omitempty"`
	// Records counts the rows in the data files; LiveRows those not
	// deleted by a position delete (each deletes exactly one record).
	Records         int64  `json:"records"`
	LiveRows        int64  `json:"live_rows"`
	DataFiles       int64  `json:"data_files"`
	DeleteFiles     int64  `json:"delete_files"`
	PositionDeletes int64  `json:"position_deletes"`
	StoppedReason   string `json:"stopped,omitempty"`
}

// cmdStatus runs `tributary status`: per source its live state, position,
// lag and snapshot progress, and per lake table its Kafka lag, freshness
// and file counts. It reads the committed state (Kafka checkpoints, the
// catalog, the source servers) and, where a process serves
// metrics.listen, its live state; it changes nothing.
func cmdStatus(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	lakePath := fs.String("c", "", "lake config file (YAML)")
	var srcPaths, addrs listFlag
	fs.Var(&srcPaths, "s", "source config `file` (YAML); repeatable")
	fs.Var(&addrs, "a", "a running process's metrics.listen `address`, for live state; repeatable (default: the configs' metrics.listen)")
	asJSON := fs.Bool("json", false, "print JSON")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on the whole status")
	if err := fs.Parse(args); err != nil {
		return exitConfig
	}
	if *lakePath == "" && len(srcPaths) == 0 {
		fmt.Fprintln(stderr, "tributary status: name the lake config (-c) and/or source configs (-s)")
		fs.Usage()
		return exitConfig
	}
	var lakeCfg *config.Lake
	if *lakePath != "" {
		c, err := config.LoadLake(*lakePath)
		if err != nil {
			fmt.Fprintf(stderr, "tributary status: %v\n", err)
			return exitConfig
		}
		lakeCfg = c
		if c.Metrics.Listen != "" {
			addrs = append(addrs, c.Metrics.Listen)
		}
	}
	var srcCfgs []*config.Source
	for _, p := range srcPaths {
		c, err := config.LoadSource(p)
		if err != nil {
			fmt.Fprintf(stderr, "tributary status: %v\n", err)
			return exitConfig
		}
		srcCfgs = append(srcCfgs, c)
		if c.Metrics.Listen != "" {
			addrs = append(addrs, c.Metrics.Listen)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	rep, err := collectStatus(ctx, lakeCfg, srcCfgs, addrs)
	if err != nil {
		fmt.Fprintf(stderr, "tributary status: %v\n", err)
		return exitError
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printStatus(stdout, rep)
	}
	return exitOK
}

// statusBrokers returns the brokers and client options to read state
// from: the lake's (the embedded broker's listen address under tributary
// run), else the first source's.
func statusBrokers(lakeCfg *config.Lake, srcCfgs []*config.Source) ([]string, []kgo.Opt, error) {
	if lakeCfg != nil {
		opts, err := kafkaOpts(config.Kafka{TLS: lakeCfg.Kafka.TLS, SASL: lakeCfg.Kafka.SASL})
		if lakeCfg.Kafka.UsesEmbeddedBroker() {
			return []string{lakeCfg.Kafka.Embedded.Listen}, nil, err
		}
		return lakeCfg.Kafka.Brokers, opts, err
	}
	s := srcCfgs[0]
	opts, err := kafkaOpts(s.Kafka)
	return s.Kafka.Brokers, opts, err
}

func collectStatus(ctx context.Context, lakeCfg *config.Lake, srcCfgs []*config.Source, addrs []string) (*statusReport, error) {
	now := time.Now().UTC()
	rep := &statusReport{At: now}
	brokers, kopts, err := statusBrokers(lakeCfg, srcCfgs)
	if err != nil {
		return nil, err
	}
	live, stopped := liveStates(ctx, addrs)
	for _, s := range srcCfgs {
		brk, opts := brokers, kopts
		if lakeCfg == nil || !s.Kafka.UsesEmbeddedBroker() {
			if len(s.Kafka.Brokers) > 0 {
				brk = s.Kafka.Brokers
				if opts, err = kafkaOpts(s.Kafka); err != nil {
					return nil, err
				}
			}
		}
		rep.Sources = append(rep.Sources, sourceStatus(ctx, s, brk, opts, live, now))
	}
	if lakeCfg == nil {
		return rep, nil
	}
	lk := newLake(lakeCfg, slog.New(slog.DiscardHandler))
	defer lk.Close()
	tables, err := lk.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	ends := topicEnds(ctx, brokers, kopts, tables)
	for _, t := range tables {
		lt := lakeTableState{Table: t.Namespace + "." + t.Name, Topic: t.Checkpoint.Topic, SnapshotID: t.SnapshotID, LastCommit: t.LastCommit,
			NewestSourceTime: t.Checkpoint.SourceTime, Records: t.Records, LiveRows: t.Records - t.PositionDeletes, DataFiles: t.DataFiles, DeleteFiles: t.DeleteFiles,
			PositionDeletes: t.PositionDeletes, KafkaLag: -1, StoppedReason: stopped[t.Checkpoint.Topic], Resyncing: t.Checkpoint.Resyncing}
		if end, ok := ends[t.Checkpoint.Topic]; ok {
			lt.KafkaLag = 0
			for p, o := range end {
				lt.KafkaLag += max(0, o-t.Checkpoint.Offsets[p])
			}
		}
		// With the whole topic applied, the table is complete through
		// what its reader had committed to Kafka.
		if lt.KafkaLag == 0 {
			for _, s := range rep.Sources {
				if s.prefix != "" && strings.HasPrefix(t.Checkpoint.Topic, s.prefix+".") {
					lt.CompleteThrough = s.SourceTime
					if s.Heartbeat.After(lt.CompleteThrough) && s.LagBytes == 0 {
						lt.CompleteThrough = s.Heartbeat
					}
				}
			}
		}
		rep.Tables = append(rep.Tables, lt)
	}
	slices.SortFunc(rep.Tables, func(a, b lakeTableState) int { return strings.Compare(a.Table, b.Table) })
	return rep, nil
}

func sourceStatus(ctx context.Context, s *config.Source, brokers []string, opts []kgo.Opt, live map[string]unitStatus, now time.Time) sourceReport {
	r := sourceReport{Name: s.Name, Type: string(s.Type), State: "unknown", LagBytes: -1, RetainedWALBytes: -1, prefix: s.Kafka.TopicPrefix}
	if u, ok := live[s.Name]; ok {
		r.State, r.StateError = u.State, u.Error
	}
	cp, err := kafka.LastCheckpoint(ctx, brokers, opts, s.Kafka.TopicPrefix, s.Name)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	if cp == nil {
		r.Error = "no checkpoint in Kafka yet: the reader has not committed"
	}
	src, err := newSource(s, slog.New(slog.DiscardHandler), nil, false, nil)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	st, err := src.(connectors.Statuser).Status(ctx, cp)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.Position, r.SourceTime, r.Heartbeat = st.Position, st.SourceTime, st.Heartbeat
	r.LagBytes, r.RetainedWALBytes = st.LagBytes, st.RetainedBytes
	switch {
	case cp == nil:
		r.LagSeconds = -1
	case st.LagBytes == 0 && st.Heartbeat.After(st.SourceTime):
		r.LagSeconds = now.Sub(st.Heartbeat).Seconds()
	default:
		r.LagSeconds = now.Sub(st.SourceTime).Seconds()
	}
	for _, t := range st.Tables {
		tr := tableReport{Table: t.Table, Snapshot: t.Snapshot, Rows: t.Rows, Estimate: t.Estimate}
		if t.Snapshot == "done" {
			tr.Percent = 100
		} else if t.Estimate > 0 {
			tr.Percent = min(99.9, 100*float64(t.Rows)/float64(t.Estimate))
			if el := now.Sub(t.Started); t.Snapshot == "running" && !t.Started.IsZero() && el > 0 && t.Rows > 0 {
				rate := float64(t.Rows) / el.Seconds()
				tr.ETA = (time.Duration(float64(max(0, t.Estimate-t.Rows))/rate) * time.Second).Round(time.Second).String()
			}
		}
		r.Tables = append(r.Tables, tr)
	}
	return r
}

// liveStates asks each address for its /status: readers by name, and the
// reasons of stopped lake tables by topic. Addresses that do not answer
// are skipped.
func liveStates(ctx context.Context, addrs []string) (map[string]unitStatus, map[string]string) {
	readers, stopped := map[string]unitStatus{}, map[string]string{}
	for _, a := range addrs {
		if strings.HasPrefix(a, ":") {
			a = "127.0.0.1" + a
		}
		rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		req, err := http.NewRequestWithContext(rctx, http.MethodGet, "http://"+strings.TrimPrefix(a, "http://")+"/status", nil)
		if err != nil {
			cancel()
			continue
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			continue
		}
		var ls liveStatus
		if json.NewDecoder(resp.Body).Decode(&ls) == nil {
			for _, u := range ls.Readers {
				readers[u.Source] = u
			}
			for t, why := range ls.StoppedTables {
				stopped[t] = why
			}
		}
		resp.Body.Close()
		cancel()
	}
	return readers, stopped
}

// topicEnds returns the last stable offset of each partition of the
// tables' topics.
func topicEnds(ctx context.Context, brokers []string, opts []kgo.Opt, tables []iceberg.TableStatus) map[string]map[int32]int64 {
	var topics []string
	for _, t := range tables {
		if t.Checkpoint.Topic != "" {
			topics = append(topics, t.Checkpoint.Topic)
		}
	}
	out := map[string]map[int32]int64{}
	if len(topics) == 0 {
		return out
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, opts...)...)
	if err != nil {
		return out
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return out
	}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			return
		}
		if out[o.Topic] == nil {
			out[o.Topic] = map[int32]int64{}
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out
}

func printStatus(w io.Writer, rep *statusReport) {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	ago := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return time.Since(t).Round(100*time.Millisecond).String() + " ago"
	}
	bytes := func(n int64) string {
		if n < 0 {
			return "-"
		}
		return humanBytes(n)
	}
	for _, s := range rep.Sources {
		state := s.State
		if s.StateError != "" {
			state += ": " + s.StateError
		}
		fmt.Fprintf(tw, "SOURCE %s (%s)\tstate %s\n", s.Name, s.Type, state)
		if s.Error != "" {
			fmt.Fprintf(tw, "  error\t%s\n", s.Error)
		}
		if s.Position != "" {
			lag := "-"
			if s.LagSeconds >= 0 {
				lag = fmt.Sprintf("%.1fs", s.LagSeconds)
			}
			fmt.Fprintf(tw, "  position\t%s\n  source lag\t%s behind, %s\n  last commit\t%s (source time of last change %s)\n",
				s.Position, bytes(s.LagBytes), lag, ago(s.Heartbeat), s.SourceTime.Format(time.RFC3339))
		}
		if s.RetainedWALBytes >= 0 {
			fmt.Fprintf(tw, "  slot retains\t%s of WAL\n", bytes(s.RetainedWALBytes))
		}
		for _, t := range s.Tables {
			line := t.Snapshot
			switch t.Snapshot {
			case "done":
				line = fmt.Sprintf("streaming (snapshot done, %d rows)", t.Rows)
			case "running":
				line = fmt.Sprintf("snapshotting %.1f%% (%d of ~%d rows)", t.Percent, t.Rows, t.Estimate)
				if t.ETA != "" {
					line += ", ETA " + t.ETA
				}
			case "pending":
				line = "snapshot pending"
			}
			fmt.Fprintf(tw, "  table %s\t%s\n", t.Table, line)
		}
	}
	if len(rep.Tables) > 0 {
		fmt.Fprintf(tw, "LAKE TABLE\tKAFKA LAG\tLAST COMMIT\tCOMPLETE THROUGH\tLIVE ROWS\tDATA/DELETE FILES\tPOSITION DELETES\n")
		for _, t := range rep.Tables {
			through := "-"
			if !t.CompleteThrough.IsZero() {
				through = t.CompleteThrough.Format(time.RFC3339)
			} else if !t.NewestSourceTime.IsZero() {
				through = "behind; newest change " + t.NewestSourceTime.Format(time.RFC3339)
			}
			lag := "-"
			if t.KafkaLag >= 0 {
				lag = fmt.Sprint(t.KafkaLag)
			}
			if t.Resyncing {
				through = "resyncing (may hold rows deleted in the source); " + through
			}
			if t.StoppedReason != "" {
				through = "STOPPED: " + t.StoppedReason
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d/%d\t%d\n", t.Table, lag, ago(t.LastCommit), through, t.LiveRows, t.DataFiles, t.DeleteFiles, t.PositionDeletes)
		}
	}
	tw.Flush()
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
