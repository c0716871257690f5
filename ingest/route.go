package ingest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
)

// A route is the tables one topic's records go to: the data table and,
// when configured, its quarantine table. Each keeps its own watermark
// (DESIGN.md §3 rule 2), and Iceberg cannot commit two tables atomically,
// so after a crash one may be ahead of the other. Three rules keep every
// offset in exactly one of them:
//
//  1. Each table takes only offsets at or above its own watermark
//     (tableState.accepts), and the verdict on a record (good or rejected)
//     is deterministic, so re-reading offsets one table already holds adds
//     nothing to it.
//  2. A flush commits the quarantine table before the data table. A data
//     table's commit therefore never runs ahead of rejects it did not get:
//     if the data table has a watermark and the quarantine table none, the
//     quarantine table was added to the route later and starts there.
//  3. A partition resumes from the lowest watermark of the route. A data
//     table with no watermark while its quarantine table has one (every
//     record so far was rejected, or the crash came between the two first
//     commits) resumes from where the quarantine table's first commit
//     started (its origin), so no good record is skipped.

// route returns the tables of ts's route, the quarantine table first, in
// commit order.
func (ts *tableState) route() []*tableState {
	if ts.rejects == nil {
		return []*tableState{ts}
	}
	return []*tableState{ts.rejects, ts}
}

// allTables returns every table state in commit order: quarantine tables
// first, then data tables, each group by name.
func (p *Pipeline) allTables() []*tableState {
	var rej, data []*tableState
	seen := make(map[*tableState]bool, len(p.tables))
	for _, ts := range p.tables {
		if seen[ts] {
			continue // fed by several topics
		}
		seen[ts] = true
		data = append(data, ts)
		if ts.rejects != nil {
			rej = append(rej, ts.rejects)
		}
	}
	byName := func(a, b *tableState) int { return strings.Compare(a.name, b.name) }
	slices.SortFunc(rej, byName)
	slices.SortFunc(data, byName)
	return append(rej, data...)
}

// resumeAt is where tp resumes for the route of data table ts (rule 3),
// given each table's loaded watermarks and origins; ok is false when no
// table of the route has a watermark, so the configured start applies.
func resumeAt(ts *tableState, tp table.TP) (off int64, ok bool) {
	w, hasW := ts.wm[tp]
	if ts.rejects == nil {
		return w, hasW
	}
	qw, hasQ := ts.rejects.wm[tp]
	switch {
	case hasW && hasQ:
		return min(w, qw), true
	case hasW:
		return w, true // quarantine added to the route later: it starts here
	case hasQ:
		if o, ok := ts.rejects.origins[tp]; ok && o < qw {
			return o, true
		}
		return qw, true
	}
	return 0, false
}

// loadRoute reloads every table of ts's route and returns their
// watermarks and origins by table, without touching ts's in-memory view.
// A missing quarantine table is created: its layout is fixed, and a table
// that exists can be queried (empty) as soon as the pipeline runs.
func (p *Pipeline) loadRoute(ctx context.Context, ts *tableState) (map[*tableState]routeView, error) {
	out := make(map[*tableState]routeView, 2)
	for _, t := range ts.route() {
		tbl, err := p.loadTable(ctx, t.id)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", t.name, err)
		}
		if tbl == nil && t.isRejects {
			if tbl, err = table.EnsureTable(ctx, p.opts.Catalog, t.id, schema.RejectsSchema(), nil); err != nil {
				return nil, fmt.Errorf("create quarantine table %s: %w", t.name, err)
			}
			p.opts.Logger.Info("quarantine table ready", "table", t.name, "location", tbl.Location())
		}
		v := routeView{wm: table.Offsets{}, origins: table.Offsets{}}
		if tbl != nil {
			if err := t.setTable(tbl); err != nil {
				return nil, err
			}
			if v.wm, err = table.Watermarks(tbl.Metadata(), p.opts.Pipeline); err != nil {
				return nil, err
			}
			if v.origins, err = table.Origins(tbl.Metadata(), p.opts.Pipeline); err != nil {
				return nil, err
			}
		}
		out[t] = v
	}
	return out, nil
}

type routeView struct{ wm, origins table.Offsets }

// adopt sets the route's in-memory watermarks and origins of tp from the
// loaded views.
func adopt(views map[*tableState]routeView, tp table.TP) {
	for t, v := range views {
		if w, ok := v.wm[tp]; ok {
			t.wm[tp] = w
		} else {
			delete(t.wm, tp)
		}
		if o, ok := v.origins[tp]; ok {
			t.origins[tp] = o
		} else {
			delete(t.origins, tp)
		}
	}
}

// mustCommit decides whether ts's batch is committed by a flush for
// reason, or carried over to a later flush because it would only advance
// a watermark that may lag a while longer (IdleCommitInterval). A crash
// meanwhile loses nothing: those offsets are in the route's other table,
// and a restart re-reads them from the lower watermark.
func (p *Pipeline) mustCommit(ts *tableState, reason string, now time.Time) bool {
	b := ts.b
	if b.hasContent() || reason == "shutdown" || reason == "revoke" || reason == "schema" {
		return true
	}
	for tp := range b.ranges {
		if _, ok := ts.wm[tp]; !ok {
			return true // a table's first watermark for a partition is never put off
		}
	}
	return now.Sub(ts.lastCommit) >= p.opts.IdleCommitInterval
}
