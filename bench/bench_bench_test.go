package bench

import (
	"io"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// BenchmarkGenerate is the cost of producing one record of each workload
// (payload and key), which the harness pays before timing starts.
func BenchmarkGenerate(b *testing.B) {
	for _, name := range Workloads() {
		b.Run(name, func(b *testing.B) {
			wl, _ := LookupWorkload(name)
			gen := wl.newGen(1)
			val, key := make([]byte, 0, 2048), make([]byte, 0, 64)
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				var err error
				if val, key, err = gen.next(val[:0], key[:0]); err != nil {
					b.Fatal(err)
				}
				n += int64(len(val) + len(key))
			}
			b.SetBytes(n / int64(max(b.N, 1)))
		})
	}
}

// BenchmarkDecodeToParquet is ingest's hot-path benchmark of the same name
// (wire split, decode with the metadata columns, zstd Parquet into
// io.Discard in 8192-row batches) for every bench workload, so that the
// flat and wide shapes are measured next to the nested tracks. One
// iteration is one record; the workload's records are pre-generated and
// cycled.
func BenchmarkDecodeToParquet(b *testing.B) {
	for _, name := range Workloads() {
		b.Run(name, func(b *testing.B) { benchDecodeToParquet(b, name) })
	}
}

func benchDecodeToParquet(b *testing.B, name string) {
	const (
		distinct  = 8192
		filesRows = 256 * 1024
	)
	wl, _ := LookupWorkload(name)
	w, err := avro.Parse(wl.Schema)
	if err != nil {
		b.Fatal(err)
	}
	sch, err := schema.ToIceberg(w)
	if err != nil {
		b.Fatal(err)
	}
	arr, err := schema.ArrowSchema(sch)
	if err != nil {
		b.Fatal(err)
	}
	dec, err := decode.NewDecoder(w, sch)
	if err != nil {
		b.Fatal(err)
	}
	gen := wl.newGen(1)
	records := make([][]byte, distinct)
	keys := make([][]byte, distinct)
	var wireBytes int64
	for i := range records {
		if records[i], keys[i], err = gen.next(music.AppendWire(nil, 1, nil), nil); err != nil {
			b.Fatal(err)
		}
		wireBytes += int64(len(records[i]) + len(keys[i]))
	}
	rb := array.NewRecordBuilder(memory.DefaultAllocator, arr)
	defer rb.Release()
	meta := &schema.Meta{Topic: "bench", Partition: 3, IngestedAt: time.Unix(1_700_000_001, 0)}
	var fw *table.DataFileWriter
	pending := 0
	flush := func() {
		if fw == nil {
			if fw, err = table.NewDataFileWriter(io.Discard, sch, table.DefaultDataFileOptions()); err != nil {
				b.Fatal(err)
			}
		}
		rec := rb.NewRecordBatch()
		err := fw.Write(rec)
		rec.Release()
		if err != nil {
			b.Fatal(err)
		}
		pending = 0
	}
	closeFile := func() {
		if err := fw.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := fw.DataFile("bench.parquet", *iceberg.UnpartitionedSpec, nil); err != nil {
			b.Fatal(err)
		}
		fw = nil
	}
	b.SetBytes(wireBytes / distinct)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, payload, err := registry.SplitWire(records[i%distinct])
		if err != nil {
			b.Fatal(err)
		}
		if err := dec.Decode(payload, rb); err != nil {
			b.Fatal(err)
		}
		meta.Offset, meta.Key = int64(i), keys[i%distinct]
		meta.Timestamp = time.UnixMilli(1_700_000_000_000 + int64(i))
		schema.AppendMeta(rb, meta)
		if pending++; pending < chunkRows {
			continue
		}
		flush()
		if fw.Rows() >= filesRows {
			closeFile()
		}
	}
	// The tail is encoded untimed, so that even -benchtime=1x runs the
	// whole path through a closed Parquet file.
	if pending > 0 {
		flush()
	}
	if fw != nil {
		closeFile()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(b.N, 1)), "ns/record")
}
