package ingest

import (
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
