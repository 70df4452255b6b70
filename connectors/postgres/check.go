package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tributary-dev/tributary/schema"
)

// minServerVersion is PostgreSQL 14: pgoutput protocol 2 (streaming of
// large transactions) and logical decoding messages.
const minServerVersion = 140000

// server is what the reader learned about the source server.
type server struct {
	version    int // server_version_num
	versionStr string
}

// inspect checks the server's settings and the user's privileges. Every
// unmet prerequisite comes back in one fatal error.
func (s *Source) inspect(ctx context.Context, q querier) (*server, error) {
	srv, probs, err := s.serverProblems(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, problemsError(s.cfg.Addr+" ("+srv.versionStr+")", probs)
	}
	return srv, nil
}

// serverProblems reads the server's version and settings and the user's
// attributes, and lists what the reader lacks.
func (s *Source) serverProblems(ctx context.Context, q querier) (*server, []Problem, error) {
	srv := &server{}
	var walLevel, maxSlots string
	var replication, super bool
	err := q.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_setting('server_version'),
		current_setting('wal_level'), current_setting('max_replication_slots'),
		r.rolreplication, r.rolsuper FROM pg_roles r WHERE r.rolname = current_user`).
		Scan(&srv.version, &srv.versionStr, &walLevel, &maxSlots, &replication, &super)
	if err != nil {
		return nil, nil, fmt.Errorf("postgres inspect: %w", err)
	}
	var probs []Problem
	if srv.version < minServerVersion {
		probs = append(probs, Problem{"PostgreSQL " + srv.versionStr + " is older than 14, which the reader needs (pgoutput protocol 2 and logical messages)",
			"upgrade the server to PostgreSQL 14 or later"})
	}
	if walLevel != "logical" {
		probs = append(probs, Problem{"wal_level is " + walLevel + ", not logical",
			"ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL"})
	}
	if maxSlots == "0" {
		probs = append(probs, Problem{"max_replication_slots is 0",
			"ALTER SYSTEM SET max_replication_slots = 10; then restart PostgreSQL"})
	}
	if !replication && !super {
		probs = append(probs, Problem{fmt.Sprintf("user %s lacks the REPLICATION attribute", s.cfg.User),
			fmt.Sprintf("ALTER ROLE %s WITH REPLICATION; (as a superuser)", quoteIdent(s.cfg.User))})
	}
	return srv, probs, nil
}

// slotInfo describes the replication slot.
type slotInfo struct {
	confirmed lsn
	created   bool
}

// ensureSlot checks the slot, or creates it when missing.
func (s *Source) ensureSlot(ctx context.Context, q querier, repl *pgconn.PgConn) (*slotInfo, error) {
	var plugin, slotType, walStatus string
	var db *string
	var confirmed *string
	err := q.QueryRow(ctx, `SELECT COALESCE(plugin, ''), slot_type, database, confirmed_flush_lsn::text, COALESCE(wal_status, '')
		FROM pg_replication_slots WHERE slot_name = $1`, s.cfg.Slot).Scan(&plugin, &slotType, &db, &confirmed, &walStatus)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.createSlot(ctx, q, repl)
	}
	if err != nil {
		return nil, fmt.Errorf("read slot %s: %w", s.cfg.Slot, err)
	}
	if p := s.slotProblem(slotType, plugin, db, walStatus); p != nil {
		err := fmt.Errorf("%s; fix: %s", p.What, p.Fix)
		if walStatus == "lost" {
			err = fmt.Errorf("%w: %w", ErrPositionLost, err)
		}
		return nil, fatal(err)
	}
	info := &slotInfo{}
	if confirmed != nil {
		if err := info.confirmed.UnmarshalText([]byte(*confirmed)); err != nil {
			return nil, fmt.Errorf("slot %s confirmed_flush_lsn %q: %w", s.cfg.Slot, *confirmed, err)
		}
	}
	return info, nil
}

// slotProblem says what is wrong with an existing slot, if anything.
func (s *Source) slotProblem(slotType, plugin string, db *string, walStatus string) *Problem {
	drop := fmt.Sprintf("choose another postgres.slot, or drop it if nothing else uses it: SELECT pg_drop_replication_slot(%s);", quoteLiteral(s.cfg.Slot))
	switch {
	case slotType != "logical":
		return &Problem{fmt.Sprintf("replication slot %s is a %s slot, not a logical one", s.cfg.Slot, slotType), drop}
	case plugin != "pgoutput":
		return &Problem{fmt.Sprintf("replication slot %s uses the output plugin %s, not pgoutput", s.cfg.Slot, plugin), drop}
	case db == nil || *db != s.cfg.Database:
		return &Problem{fmt.Sprintf("replication slot %s belongs to database %s, not %s", s.cfg.Slot, deref(db), s.cfg.Database), drop}
	case walStatus == "lost":
		return &Problem{fmt.Sprintf("replication slot %s was invalidated (its WAL was removed, max_slot_wal_keep_size)", s.cfg.Slot),
			fmt.Sprintf("SELECT pg_drop_replication_slot(%s); then restart the reader with --reset-position to snapshot every table again", quoteLiteral(s.cfg.Slot))}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return "(none)"
	}
	return *s
}

// createSlot creates the logical slot on the replication connection.
func (s *Source) createSlot(ctx context.Context, q querier, repl *pgconn.PgConn) (*slotInfo, error) {
	res, err := pglogrepl.CreateReplicationSlot(ctx, repl, quoteIdent(s.cfg.Slot), "pgoutput",
		pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication, SnapshotAction: "NOEXPORT_SNAPSHOT"})
	if err != nil {
		switch pgCode(err) {
		case codeConfigLimitExceeded:
			return nil, fatal(fmt.Errorf("create replication slot %s: every replication slot is in use (max_replication_slots): %w; fix: drop a slot nothing uses "+
				"(SELECT slot_name, active FROM pg_replication_slots; then SELECT pg_drop_replication_slot('<name>');), or ALTER SYSTEM SET max_replication_slots = <more>; and restart PostgreSQL", s.cfg.Slot, err))
		case codeInsufficientPrivilege:
			return nil, fatal(fmt.Errorf("create replication slot %s: %w; fix: ALTER ROLE %s WITH REPLICATION;", s.cfg.Slot, err, quoteIdent(s.cfg.User)))
		case codeDuplicateObject:
			// Another reader created it meanwhile: check it.
			return s.ensureSlot(ctx, q, repl)
		}
		return nil, fmt.Errorf("create replication slot %s: %w", s.cfg.Slot, err)
	}
	info := &slotInfo{created: true}
	if err := info.confirmed.UnmarshalText([]byte(res.ConsistentPoint)); err != nil {
		return nil, fmt.Errorf("slot %s consistent point %q: %w", s.cfg.Slot, res.ConsistentPoint, err)
	}
	s.log.Info("created replication slot", "slot", s.cfg.Slot, "at", res.ConsistentPoint)
	return info, nil
}

// ensurePublication checks that the publication publishes every change of
// every captured table through partition roots, creating or altering it
// when the user may. What the reader cannot fix comes back as a fatal error
// with the SQL to run.
func (s *Source) ensurePublication(ctx context.Context, q querier, srv *server, tables []schema.TableID) error {
	pub := quoteIdent(s.cfg.Publication)
	var all, ins, upd, del, trunc, viaRoot bool
	err := q.QueryRow(ctx, `SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate, pubviaroot FROM pg_publication WHERE pubname = $1`,
		s.cfg.Publication).Scan(&all, &ins, &upd, &del, &trunc, &viaRoot)
	if errors.Is(err, pgx.ErrNoRows) {
		return s.createPublication(ctx, q, tables)
	}
	if err != nil {
		return fmt.Errorf("read publication %s: %w", s.cfg.Publication, err)
	}
	var probs []Problem
	if !(ins && upd && del && trunc && viaRoot) {
		fix := fmt.Sprintf("ALTER PUBLICATION %s SET (publish = 'insert, update, delete, truncate', publish_via_partition_root = true);", pub)
		if err := exec(ctx, q, fix); err != nil {
			probs = append(probs, Problem{fmt.Sprintf("publication %s does not publish every change through partition roots, and the reader could not change it (%v)", s.cfg.Publication, err),
				"as its owner: " + fix})
		} else {
			s.log.Info("altered publication", "publication", s.cfg.Publication, "sql", fix)
		}
	}
	if !all {
		prob, err := s.addMissingTables(ctx, q, srv, tables)
		if err != nil {
			return err
		}
		probs = append(probs, prob...)
	}
	if len(probs) > 0 {
		return problemsError(s.cfg.Addr, probs)
	}
	return nil
}

// addMissingTables adds the captured tables a publication lacks, when the
// user may; it returns what it could not fix.
func (s *Source) addMissingTables(ctx context.Context, q querier, srv *server, tables []schema.TableID) ([]Problem, error) {
	pub := quoteIdent(s.cfg.Publication)
	published, filtered, err := publishedTables(ctx, q, s.cfg.Publication, srv.version)
	if err != nil {
		return nil, err
	}
	var (
		missing []string
		probs   []Problem
	)
	for _, id := range tables {
		if f, ok := filtered[id]; ok {
			probs = append(probs, Problem{fmt.Sprintf("publication %s has %s for %s, so the reader would miss changes", s.cfg.Publication, f, id),
				fmt.Sprintf("ALTER PUBLICATION %s DROP TABLE %s; ALTER PUBLICATION %s ADD TABLE %s;", pub, quoteTable(id), pub, quoteTable(id))})
		}
		if !published[id] {
			missing = append(missing, quoteTable(id))
		}
	}
	if len(missing) == 0 {
		return probs, nil
	}
	fix := fmt.Sprintf("ALTER PUBLICATION %s ADD TABLE %s;", pub, strings.Join(missing, ", "))
	if err := exec(ctx, q, fix); err != nil {
		return append(probs, Problem{fmt.Sprintf("publication %s does not include %s, and the reader could not add it (%v)", s.cfg.Publication, strings.Join(missing, ", "), err),
			"as the owner of the publication and the tables (or a superuser): " + fix}), nil
	}
	s.log.Info("added tables to the publication", "publication", s.cfg.Publication, "sql", fix)
	return probs, nil
}

func (s *Source) createPublication(ctx context.Context, q querier, tables []schema.TableID) error {
	names := make([]string, len(tables))
	for i, id := range tables {
		names[i] = quoteTable(id)
	}
	sql := "CREATE PUBLICATION " + quoteIdent(s.cfg.Publication)
	if len(names) > 0 {
		sql += " FOR TABLE " + strings.Join(names, ", ")
	}
	sql += " WITH (publish = 'insert, update, delete, truncate', publish_via_partition_root = true);"
	if err := exec(ctx, q, sql); err != nil {
		return fatal(fmt.Errorf("publication %s does not exist, and the reader could not create it (%w); fix, as the owner of the tables (or a superuser): %s", s.cfg.Publication, err, sql))
	}
	s.log.Info("created publication", "publication", s.cfg.Publication, "tables", len(tables))
	return nil
}

// publishedTables returns the tables of a publication, and those of them
// that have a column list or a row filter (PostgreSQL 15).
func publishedTables(ctx context.Context, q querier, pub string, version int) (map[schema.TableID]bool, map[schema.TableID]string, error) {
	sql := `SELECT n.nspname, c.relname, false, false FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
		JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = $1`
	if version >= 150000 {
		sql = `SELECT n.nspname, c.relname, pr.prattrs IS NOT NULL, pr.prqual IS NOT NULL
		FROM pg_publication p JOIN pg_publication_rel pr ON pr.prpubid = p.oid
		JOIN pg_class c ON c.oid = pr.prrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = $1
		UNION ALL
		SELECT n.nspname, c.relname, false, false FROM pg_publication p JOIN pg_publication_namespace pn ON pn.pnpubid = p.oid
		JOIN pg_class c ON c.relnamespace = pn.pnnspid AND c.relkind IN ('r', 'p') JOIN pg_namespace n ON n.oid = c.relnamespace WHERE p.pubname = $1`
	}
	rows, err := q.Query(ctx, sql, pub)
	if err != nil {
		return nil, nil, fmt.Errorf("read publication %s: %w", pub, err)
	}
	defer rows.Close()
	published, filtered := map[schema.TableID]bool{}, map[schema.TableID]string{}
	for rows.Next() {
		var id schema.TableID
		var cols, where bool
		if err := rows.Scan(&id.Database, &id.Name, &cols, &where); err != nil {
			return nil, nil, fmt.Errorf("read publication %s: %w", pub, err)
		}
		published[id] = true
		var what []string
		if cols {
			what = append(what, "a column list")
		}
		if where {
			what = append(what, "a row filter")
		}
		if len(what) > 0 {
			filtered[id] = strings.Join(what, " and ")
		}
	}
	return published, filtered, rows.Err()
}

func exec(ctx context.Context, q querier, sql string) error {
	rows, err := q.Query(ctx, sql)
	if err != nil {
		return err
	}
	rows.Close()
	return rows.Err()
}
