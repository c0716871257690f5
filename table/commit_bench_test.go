package table_test

import (
	"context"
	"fmt"
	"testing"

	iceberg "github.com/apache/iceberg-go"
	"github.com/google/uuid"

	"github.com/bigfather/bigfather/table"
)

// BenchmarkCommit measures one exactly-once commit: a data file plus the
// watermark bookkeeping of every partition the batch covers (the fence
// check against the table's watermarks, the new offsets, ranges and
// origins properties, the snapshot summary) through a SQLite catalog on
// a local warehouse. The table gains a snapshot per iteration, as a
// running pipeline's does.
func BenchmarkCommit(b *testing.B) {
	for _, parts := range []int{8, 1000} {
		b.Run(fmt.Sprintf("partitions=%d", parts), func(b *testing.B) {
			f := newFixture(b)
			c := table.NewCommitter(f.cat, table.CommitterOptions{})
			ctx := context.Background()
			tps := make([]table.TP, parts)
			for i := range tps {
				tps[i] = table.TP{Topic: "t", Partition: int32(i)}
			}
			wm := table.Offsets{}
			tbl := f.tbl
			for i := range b.N {
				b.StopTimer()
				df := f.file(int64(i))
				batch := &table.Batch{Pipeline: pipe, CommitID: uuid.NewString(), Files: []iceberg.DataFile{df},
					Expect: wm.Clone(), Ranges: table.Ranges{}}
				for _, tp := range tps {
					batch.Ranges[tp] = [2]int64{int64(i) * 10, int64(i+1) * 10}
				}
				b.StartTimer()
				res, err := c.Commit(ctx, tbl, batch)
				if err != nil {
					b.Fatal(err)
				}
				tbl = res.Table
				for _, tp := range tps {
					wm[tp] = int64(i+1) * 10
				}
			}
		})
	}
}
