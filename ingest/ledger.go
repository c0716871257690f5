package ingest

import (
	"time"

	"github.com/bigfather/bigfather/table"
)

// ledger keeps the books of one route (route.go): for every offset of
// the route's partitions, which tables still need a verdict on it, and in
// which batch each table records it. It owns DESIGN.md §3 rules 1–3 as
// the route extends them, and nothing else: what becomes of a record is
// the verdict's (verdict.go), and the ledger is told it.
//
//   - pending: some table of the route does not hold the offset yet
//     (rule 1); an offset every table holds is not judged again.
//   - hold: the offset is in one table (its rows, or its quarantine row);
//     every other table that still needs it covers it, so that its
//     watermark moves past it.
//   - pass over: no table holds the offset (filtered, unrouted, rejected
//     without quarantine); the anchor lists it in its commit's
//     bigfather.skipped, so verify accounts for it.
//
// A range a table starts for a partition begins at its watermark, or,
// without one, where the route's open batches do (batchStart).
type ledger struct {
	all    []*tableState // every table of the route, in commit order
	anchor *tableState   // the last of all: it commits after every other (rule 2)
}

// pending reports whether some table of the route does not hold offset
// off of tp yet.
func (l *ledger) pending(tp table.TP, off int64) bool {
	for _, t := range l.all {
		if t.accepts(tp, off) {
			return true
		}
	}
	return false
}

// hold records that holder holds offset off of tp (a row appended to its
// batch, whose range it now covers), and covers it in every other table
// that still needs a verdict on it.
func (l *ledger) hold(holder *tableState, tp table.TP, off int64, now time.Time) {
	l.cover(holder, tp, off, now)
	l.coverOthers(holder, tp, off, now)
}

// coverOthers records off as consumed in every table of the route that
// still needs a verdict on it, except holder, which holds the record or
// lists it. A data table not created yet gets nothing now; the batch that
// creates it starts its range where the route's batch does (batchStart).
func (l *ledger) coverOthers(holder *tableState, tp table.TP, off int64, now time.Time) {
	for _, t := range l.all {
		if t != holder && (t.tbl != nil || t.isRejects) && t.accepts(tp, off) {
			l.cover(t, tp, off, now)
		}
	}
}

// passOver records an offset no table of the route holds: it is listed
// in the anchor's commit (bigfather.skipped) so verify accounts for it,
// unless the anchor already holds it, and covered in the other tables.
// An anchor with no table yet (a lone data table before its first good
// record) has nothing to commit it to: the batch that creates the table
// covers the offset, from where the route's batch starts.
func (l *ledger) passOver(tp table.TP, off int64, now time.Time) {
	if a := l.anchor; a.tbl != nil && a.accepts(tp, off) {
		l.cover(a, tp, off, now).skip(tp, off)
	}
	l.coverOthers(l.anchor, tp, off, now)
}

// cover records that offset off of tp was consumed into t's batch,
// starting the batch if needed. A table with no watermark for tp starts
// its range where the route's open batches start (batchStart): a table of
// a route created in the middle of a batch was not the verdict of any
// record before it, so its range, and the origin its first commit
// records, start where the route's batch does (rule 3). A range a skip
// policy jumped over is recorded with the partition's first offset in
// the batch.
func (l *ledger) cover(t *tableState, tp table.TP, off int64, now time.Time) *batch {
	b := t.open(now)
	if b.hot.ok && b.hot.tp == tp {
		b.hot.rg[1] = off + 1
		return b
	}
	rg, ok := b.consumed()[tp]
	if !ok {
		rg[0] = l.batchStart(tp, off)
		if w, had := t.wm[tp]; had {
			b.expect[tp] = w
			rg[0] = w // gaps below off (markers, compaction) are covered too
		}
		if gap, ok := t.gaps[tp]; ok {
			b.gaps[tp] = gap
			delete(t.gaps, tp)
		}
	}
	rg[1] = off + 1
	b.ranges[tp] = rg
	b.hot = hotRange{tp: tp, rg: rg, ok: true}
	return b
}

// batchStart is the lowest offset of tp the route's open batches cover,
// or off when none covers tp.
func (l *ledger) batchStart(tp table.TP, off int64) int64 {
	for _, t := range l.all {
		if t.b != nil {
			if rg, ok := t.b.consumed()[tp]; ok {
				off = min(off, rg[0])
			}
		}
	}
	return off
}

// resumeAt is where tp resumes (rule 3), given each table's loaded
// watermarks and origins; ok is false when no table of the route has a
// watermark, so the configured start applies.
func (l *ledger) resumeAt(tp table.TP) (off int64, ok bool) {
	_, anchored := l.anchor.wm[tp]
	useOrigins := !anchored && !l.anchor.fresh
	for _, t := range l.all {
		w, has := t.wm[tp]
		if !has {
			continue
		}
		if o, hasO := t.origins[tp]; useOrigins && hasO && o < w {
			w = o
		}
		if !ok || w < off {
			off, ok = w, true
		}
	}
	return off, ok
}
