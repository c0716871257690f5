package ingest

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/table"
)

// noteFetched records, before any record of the poll is processed, every
// partition the poll fetched from and the first offset fetched of each
// since it was assigned. A flush that fails mid-poll abandons the rest of
// the poll, records of partitions not reached yet included; resync must
// re-seek those too, and a partition never committed back to where its
// fetching started in this assignment, never past it.
func (p *Pipeline) noteFetched(fetches kgo.Fetches) {
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		tp := table.TP{Topic: fp.Topic, Partition: fp.Partition}
		if _, ok := p.firstSeen[tp]; !ok {
			p.firstSeen[tp] = fp.Records[0].Offset
		}
	})
}

// resync reloads every route's watermarks and seeks every partition this
// worker has fetched from since its assignment (noteFetched) back to where
// its route resumes; a partition never committed goes back to the first
// offset fetched since it was assigned. A halted partition stays where it
// halted.
func (p *Pipeline) resync(ctx context.Context) error {
	set := make(map[string]map[int32]kgo.EpochOffset)
	err := p.eachRoute(func(rt *topicRoute) error {
		views, err := p.loadRoute(ctx, rt)
		if err != nil {
			return fmt.Errorf("re-seek: %w", err)
		}
		for tp, first := range p.firstSeen {
			if tp.Topic != rt.topic || p.halted[tp] != nil {
				continue
			}
			adopt(views, tp)
			off, ok := rt.resumeAt(tp)
			if !ok {
				off = first
			}
			if set[rt.topic] == nil {
				set[rt.topic] = make(map[int32]kgo.EpochOffset)
			}
			set[rt.topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: off}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(set) > 0 {
		p.cl.SetOffsets(set)
	}
	clear(p.caughtUp) // re-seeked: caught up again only after a fetch says so
	return nil
}
