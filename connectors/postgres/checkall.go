package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Check inspects the source without changing anything and returns every
// unmet prerequisite with its fix: the server's settings, the user's
// privileges, each captured table's key and replica identity, the slot,
// and what the publication lacks that the reader could not add itself.
// No problems means the reader can start. Connection failures come back
// as the error, a *FatalError when the fix is the config's.
func (s *Source) Check(ctx context.Context) ([]Problem, error) {
	q, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer q.Close(context.WithoutCancel(ctx))
	srv, probs, err := s.serverProblems(ctx, q)
	if err != nil {
		return nil, err
	}
	ids, err := s.listTables(ctx, q)
	if err != nil {
		return nil, err
	}
	var owned, notOwned []string
	for _, id := range ids {
		t, err := loadTable(ctx, q, id)
		if err != nil || t == nil {
			continue
		}
		if _, prob, noKey := s.keyOf(t); prob != nil && !(noKey && s.cfg.SkipWithoutKey) {
			probs = append(probs, *prob)
			continue
		}
		var mine bool
		if err := q.QueryRow(ctx, `SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = $1`, t.oid).Scan(&mine); err != nil {
			return nil, fmt.Errorf("read owner of %s: %w", id, err)
		}
		if mine {
			owned = append(owned, quoteTable(id))
		} else {
			notOwned = append(notOwned, quoteTable(id))
		}
	}
	pubProbs, err := s.publicationProblems(ctx, q, srv, owned, notOwned)
	if err != nil {
		return nil, err
	}
	probs = append(probs, pubProbs...)
	var plugin, slotType, walStatus string
	var db *string
	err = q.QueryRow(ctx, `SELECT COALESCE(plugin, ''), slot_type, database, COALESCE(wal_status, '') FROM pg_replication_slots WHERE slot_name = $1`,
		s.cfg.Slot).Scan(&plugin, &slotType, &db, &walStatus)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("read slot %s: %w", s.cfg.Slot, err)
	default:
		if p := s.slotProblem(slotType, plugin, db, walStatus); p != nil {
			probs = append(probs, *p)
		}
	}
	return probs, nil
}

// publicationProblems reports what the publication lacks that the reader
// cannot add itself (it needs to own the publication and the table), or,
// when it is missing, that the reader cannot create it.
func (s *Source) publicationProblems(ctx context.Context, q querier, srv *server, owned, notOwned []string) ([]Problem, error) {
	pub := quoteIdent(s.cfg.Publication)
	var all, viaRoot, ins, upd, del, trunc bool
	var mine bool
	err := q.QueryRow(ctx, `SELECT puballtables, pubviaroot, pubinsert, pubupdate, pubdelete, pubtruncate, pg_has_role(pubowner, 'USAGE')
		FROM pg_publication WHERE pubname = $1`, s.cfg.Publication).Scan(&all, &viaRoot, &ins, &upd, &del, &trunc, &mine)
	if errors.Is(err, pgx.ErrNoRows) {
		if len(notOwned) == 0 {
			return nil, nil // the reader creates it
		}
		return []Problem{{fmt.Sprintf("publication %s does not exist, and the reader does not own %s to create it", s.cfg.Publication, strings.Join(notOwned, ", ")),
			fmt.Sprintf("as their owner (or a superuser): CREATE PUBLICATION %s FOR TABLE %s WITH (publish_via_partition_root = true);", pub, strings.Join(append(owned, notOwned...), ", "))}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read publication %s: %w", s.cfg.Publication, err)
	}
	var probs []Problem
	if !(ins && upd && del && trunc && viaRoot) && !mine {
		probs = append(probs, Problem{fmt.Sprintf("publication %s does not publish every change through partition roots", s.cfg.Publication),
			fmt.Sprintf("as its owner: ALTER PUBLICATION %s SET (publish = 'insert, update, delete, truncate', publish_via_partition_root = true);", pub)})
	}
	if all {
		return probs, nil
	}
	published, _, err := publishedTables(ctx, q, s.cfg.Publication, srv.version)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for id := range published {
		have[quoteTable(id)] = true
	}
	var missing []string
	for _, name := range append(notOwned, owned...) {
		// The reader adds a table itself when it owns both the table and
		// the publication.
		if !have[name] && (!mine || slices.Contains(notOwned, name)) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		probs = append(probs, Problem{fmt.Sprintf("publication %s does not include %s, which the reader does not own", s.cfg.Publication, strings.Join(missing, ", ")),
			fmt.Sprintf("as the owner of the publication and the tables (or a superuser): ALTER PUBLICATION %s ADD TABLE %s;", pub, strings.Join(missing, ", "))})
	}
	return probs, nil
}
