package ingest

import (
	"time"

	"github.com/bigfather/bigfather/table"
)

// pending reports whether some table of the route does not hold offset
// off of tp yet.
func (rt *topicRoute) pending(tp table.TP, off int64) bool {
	for _, t := range rt.all {
		if t.accepts(tp, off) {
			return true
		}
	}
	return false
}

// coverOthers records off as consumed in every table of the route that
// still needs a verdict on it, except holder, which holds the record or
// lists it. A data table not created yet gets nothing now; the batch that
// creates it starts its range where the route's batch does (batchStart).
func (rc *recordCtx) coverOthers(holder *tableState) {
	for _, t := range rc.rt.all {
		if t != holder && (t.tbl != nil || t.isRejects) && t.accepts(rc.tp, rc.r.Offset) {
			rc.cover(t)
		}
	}
}

// cover records the record's offset in t's batch; a range t starts for
// the partition begins where the route's open batches do.
func (rc *recordCtx) cover(t *tableState) *batch {
	return t.cover(rc.rt, rc.tp, rc.r.Offset, rc.now)
}

// batchStart is the lowest offset of tp the route's open batches cover,
// or off when none covers tp.
func (rt *topicRoute) batchStart(tp table.TP, off int64) int64 {
	for _, t := range rt.all {
		if t.b != nil {
			if rg, ok := t.b.consumed()[tp]; ok {
				off = min(off, rg[0])
			}
		}
	}
	return off
}

// skip passes over a record no table of the route holds: its offset is
// listed in the anchor's commit (bigfather.skipped) so verify accounts for
// it, unless the anchor already holds it, and covered in the other tables.
// An anchor with no table yet (a lone data table before its first good
// record) has nothing to commit it to: the batch that creates the table
// covers the offset, from where the route's batch starts.
func (rc *recordCtx) skip() {
	if a := rc.rt.anchor; a.tbl != nil && a.accepts(rc.tp, rc.r.Offset) {
		rc.cover(a).skip(rc.tp, rc.r.Offset)
	}
	rc.coverOthers(rc.rt.anchor)
}

// cover records that offset off of tp was consumed into ts's batch,
// starting the batch if needed. A table with no watermark for tp starts
// its range where rt's open batches start (batchStart): a table of a route created in the
// middle of a batch was not the verdict of any record before it, so its
// range, and the origin its first commit records, start where the
// route's batch does (route.go, rule 3). A range a skip policy jumped over
// is recorded with the partition's first offset in the batch.
func (ts *tableState) cover(rt *topicRoute, tp table.TP, off int64, now time.Time) *batch {
	b := ts.open(now)
	if b.hot.ok && b.hot.tp == tp {
		b.hot.rg[1] = off + 1
		return b
	}
	rg, ok := b.consumed()[tp]
	if !ok {
		rg[0] = rt.batchStart(tp, off)
		if w, had := ts.wm[tp]; had {
			b.expect[tp] = w
			rg[0] = w // gaps below off (markers, compaction) are covered too
		}
		if gap, ok := ts.gaps[tp]; ok {
			b.gaps[tp] = gap
			delete(ts.gaps, tp)
		}
	}
	rg[1] = off + 1
	b.ranges[tp] = rg
	b.hot = hotRange{tp: tp, rg: rg, ok: true}
	return b
}

// resumeAt is where tp resumes (rule 3), given each table's loaded
// watermarks and origins; ok is false when no table of the route has a
// watermark, so the configured start applies.
func (rt *topicRoute) resumeAt(tp table.TP) (off int64, ok bool) {
	_, anchored := rt.anchor.wm[tp]
	useOrigins := !anchored && !rt.anchor.fresh
	for _, t := range rt.all {
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

