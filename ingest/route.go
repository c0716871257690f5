package ingest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// A route is the tables one topic's records go to: the data tables it
// feeds (one, or several chosen per record by their route conditions) and
// their quarantine tables. Each table keeps its own watermark (DESIGN.md
// §3 rule 2), and Iceberg cannot commit two tables atomically, so after a
// crash some may be ahead of others. Three rules keep every offset in
// exactly one of them:
//
//  1. Each table takes only offsets at or above its own watermark
//     (watermarks.accepts, ledger.pending), and the verdict on a record
//     (which table, or rejected: verdict.go) is deterministic, so
//     re-reading offsets a table already holds adds nothing to it.
//  2. A flush commits every data table before every quarantine table
//     (allTables), so each route has a table that commits after all its
//     others: its anchor, the last of the route in that order. When the
//     anchor commits a watermark, every other table of the route already
//     committed what it holds below it.
//  3. A partition resumes from the lowest watermark of the route's tables
//     when the anchor has one: a table with none held nothing below the
//     anchor's. When the anchor has none, a crash may have come between
//     the first commits of the others, so each counts from where its first
//     commit started (its origin), unless this process created the anchor
//     and has not committed since: then it is new to the route and owes
//     nothing (ledger.resumeAt).
//
// The route's ledger (ledger.go) keeps these books; record (record.go)
// tells it the verdict on each record.
type topicRoute struct {
	topic string
	// tables are the data tables, in the order their routes are tried.
	tables []*tableState
	// quarantine takes the records rejected before a table is chosen and
	// those no route takes; nil passes over them.
	quarantine *tableState
	// ledger holds every table of the route, in commit order, and its
	// anchor, and keeps the books of rules 1–3 over them (ledger.go).
	ledger
	// json converts the topic's plain JSON records to Avro of jsonWS, the
	// declared schema; nil for registry-framed records.
	json   *registry.JSONRecords
	jsonWS *registry.WriterSchema
}

// routeOf returns topic's route, building it on first use; nil when no
// table takes the topic.
func (p *Pipeline) routeOf(topic string) (*topicRoute, error) {
	if rt, ok := p.routes[topic]; ok {
		return rt, nil
	}
	idx, err := p.opts.routeTables(topic)
	if err != nil {
		return nil, err
	}
	if len(idx) == 0 || topic == p.opts.DLQTopic {
		p.routes[topic] = nil
		return nil, nil
	}
	rt := &topicRoute{topic: topic}
	seen := map[*tableState]bool{}
	for _, i := range idx {
		ts := p.byTable[strings.Join(p.opts.Tables[i].ID, ".")]
		rt.tables = append(rt.tables, ts)
		if rt.quarantine == nil {
			rt.quarantine = ts.rejects
		}
		for _, t := range []*tableState{ts, ts.rejects} {
			if t != nil && !seen[t] {
				seen[t] = true
				// Every table is loaded through a route, so this is before
				// its first setTable.
				t.health = p.m.health
				rt.all = append(rt.all, t)
			}
		}
	}
	slices.SortFunc(rt.all, commitOrder)
	rt.anchor = rt.all[len(rt.all)-1]
	if j := p.opts.JSON[topic]; j != nil {
		// The declared schema stands in for a registry schema; id 0 is
		// one the registry never assigns.
		rt.json, rt.jsonWS = j, &registry.WriterSchema{ID: 0, Avro: j.Schema()}
	}
	p.routes[topic] = rt
	return rt, nil
}

// commitOrder orders tables as flushes commit them (rule 2): data tables
// before quarantine tables, each by name.
func commitOrder(a, b *tableState) int {
	if a.isRejects != b.isRejects {
		if a.isRejects {
			return 1
		}
		return -1
	}
	return strings.Compare(a.name, b.name)
}

// allTables returns every table state in commit order.
func (p *Pipeline) allTables() []*tableState {
	out := make([]*tableState, 0, 2*len(p.byTable))
	for _, ts := range p.byTable {
		out = append(out, ts)
		if ts.rejects != nil {
			out = append(out, ts.rejects)
		}
	}
	slices.SortFunc(out, commitOrder)
	return slices.CompactFunc(out, func(a, b *tableState) bool { return a == b })
}

// eachRoute calls fn for every route with a table, by topic.
func (p *Pipeline) eachRoute(fn func(rt *topicRoute) error) error {
	for _, topic := range slices.Sorted(maps.Keys(p.routes)) {
		if rt := p.routes[topic]; rt != nil {
			if err := fn(rt); err != nil {
				return err
			}
		}
	}
	return nil
}

// loadRoute reloads every table of rt and returns their watermarks and
// origins by table, without touching the tables' in-memory views.
// A missing quarantine table is created: its layout is fixed, and a table
// that exists can be queried (empty) as soon as the pipeline runs.
func (p *Pipeline) loadRoute(ctx context.Context, rt *topicRoute) (map[*tableState]routeView, error) {
	out := make(map[*tableState]routeView, len(rt.all))
	for _, t := range rt.all {
		tbl, err := p.loadTable(ctx, t.id)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", t.name, err)
		}
		if tbl == nil && t.isRejects {
			if tbl, err = p.ensureTable(ctx, t.name, t.id, schema.RejectsSchema()); err != nil {
				return nil, fmt.Errorf("create quarantine table %s: %w", t.name, err)
			}
			t.fresh = true
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
		t.wmChanged()
		if o, ok := v.origins[tp]; ok {
			t.origins[tp] = o
		} else {
			delete(t.origins, tp)
		}
	}
}

// flushReason is why a flush runs (or, for flushWrite, why the batches
// are dropped without one); logged, and some reasons commit every batch
// (mustCommit).
type flushReason string

const (
	flushRecords  flushReason = "records"  // the batches reached flush.max_records
	flushLatency  flushReason = "latency"  // a batch reached flush.max_latency
	flushMemory   flushReason = "memory"   // the batches reached the memory budget
	flushSkipped  flushReason = "skipped"  // too many passed-over offsets listed
	flushSchema   flushReason = "schema"   // a table's schema evolves with the next batch
	flushGap      flushReason = "gap"      // a fetch ran out of range (gap.go)
	flushRevoke   flushReason = "revoke"   // partitions are revoked
	flushShutdown flushReason = "shutdown" // the pipeline stops
	flushWrite    flushReason = "write"    // a chunk failed to write: no flush, the batches are dropped
)

// mustCommit decides whether ts's batch is committed by a flush for
// reason, or carried over to a later flush because it would only advance
// a watermark that may lag a while longer (IdleCommitInterval). A crash
// meanwhile loses nothing: those offsets are in the route's other table,
// and a restart re-reads them from the lower watermark.
func (p *Pipeline) mustCommit(ts *tableState, reason flushReason, now time.Time) bool {
	b := ts.b
	switch reason {
	case flushShutdown, flushRevoke, flushSchema, flushGap:
		return true
	}
	if b.hasContent() {
		return true
	}
	for tp := range b.consumed() {
		if _, ok := ts.wm[tp]; !ok {
			return true // a table's first watermark for a partition is never put off
		}
	}
	return now.Sub(ts.lastCommit) >= p.opts.IdleCommitInterval
}
