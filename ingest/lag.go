package ingest

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/table"
)

// noteCaughtUp records, per partition of the poll, its high watermark
// and, when the partition's last record is a transaction marker (control
// records are kept for this), the offset after it: the consumer has
// fetched everything below, so the markers and aborted records between
// the last data record and there are nothing to ingest, and no lag.
func (p *Pipeline) noteCaughtUp(fetches kgo.Fetches) {
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Err != nil || len(fp.Records) == 0 {
			return
		}
		tp := table.TP{Topic: fp.Topic, Partition: fp.Partition}
		p.hw[tp] = fp.HighWatermark
		if last := fp.Records[len(fp.Records)-1]; last.Attrs.IsControl() {
			p.caughtUp[tp] = last.Offset + 1
		} else {
			delete(p.caughtUp, tp)
		}
	})
}

// frontier is where t's committed data of tp ends for lag: its watermark,
// or the offset after a trailing transaction marker when that is above it
// and t has nothing of tp in flight.
func (p *Pipeline) frontier(t *tableState, tp table.TP) (int64, bool) {
	w, ok := t.wm[tp]
	if at, caught := p.caughtUp[tp]; caught && ok && at > w {
		if t.b == nil {
			return at, true
		}
		if _, open := t.b.consumed()[tp]; !open {
			return at, true
		}
	}
	return w, ok
}

// updateLag sets the lag gauges from the last high watermarks.
// bigfather_ingest_lag_records is the data's lag: against the data table
// furthest along (a flush commits every table holding records, so every
// record below it is in a table; a table behind it only carries offsets
// over). The quarantine table, which commits only every
// idle_commit_interval when nothing is rejected, is left out of it; every
// table's own lag is in bigfather_ingest_table_lag_records.
func (p *Pipeline) updateLag() {
	var total int64
	for tp, hw := range p.hw {
		rt := p.routes[tp.Topic]
		if rt == nil {
			continue
		}
		part := strconv.Itoa(int(tp.Partition))
		var data int64
		var have bool
		for _, t := range rt.all {
			w, ok := p.frontier(t, tp)
			if !ok {
				continue
			}
			p.m.tableLag.WithLabelValues(t.name, tp.Topic, part).Set(float64(max(hw-w, 0)))
			if !t.isRejects && (!have || w > data) {
				data, have = w, true
			}
		}
		if !have {
			// No data table has committed this partition yet: from where
			// the route resumes, or, never committed, from where fetching
			// started.
			w, ok := rt.resumeAt(tp)
			if !ok {
				if w, ok = p.firstSeen[tp]; !ok {
					continue
				}
			}
			data = w
		}
		lag := max(hw-data, 0)
		total += lag
		p.m.lag.WithLabelValues(tp.Topic, part).Set(float64(lag))
	}
	p.stats.lag.Store(total)
}

// forgetLag removes the lag series of a partition no longer assigned.
func (p *Pipeline) forgetLag(tp table.TP) {
	part := strconv.Itoa(int(tp.Partition))
	p.m.lag.DeleteLabelValues(tp.Topic, part)
	p.m.tableLag.DeletePartialMatch(prometheus.Labels{"topic": tp.Topic, "partition": part})
	delete(p.caughtUp, tp)
}

// refreshLag lists the log ends of the assigned partitions and updates
// the lag gauges, for waits that hold up the poll loop (a registry
// outage): lag must keep growing while nothing is ingested.
func (p *Pipeline) refreshLag(ctx context.Context) {
	if p.adm == nil || len(p.hw) == 0 {
		return
	}
	topics := map[string]bool{}
	for tp := range p.hw {
		topics[tp.Topic] = true
	}
	names := make([]string, 0, len(topics))
	for t := range topics {
		names = append(names, t)
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ends, err := p.adm.ListEndOffsets(lctx, names...)
	if err != nil {
		return // the broker is unreachable too: the gauges keep their last values
	}
	for tp := range p.hw {
		if eo, ok := ends.Lookup(tp.Topic, tp.Partition); ok && eo.Err == nil && eo.Offset > p.hw[tp] {
			p.hw[tp] = eo.Offset
			delete(p.caughtUp, tp)
		}
	}
	p.updateLag()
}
