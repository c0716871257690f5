package ingest

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
	"github.com/bigfather/bigfather/table"
)

// BenchmarkDecodeToParquet is the per-record cost of the ingest hot path
// without Kafka or storage: a Confluent-framed music track is split off its
// wire header, decoded into the Arrow builders with its metadata columns,
// cut into chunks of chunkRows and encoded as zstd Parquet, the way the
// worker loop does it, into io.Discard. One iteration is one record; a file
// is closed (footer and statistics) every filesRows records.
func BenchmarkDecodeToParquet(b *testing.B) {
	const (
		distinct  = 4096 // pre-generated payloads, cycled
		filesRows = 256 * 1024
	)
	w, err := avro.Parse(music.TrackSchema())
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
	dec, err := schema.NewDecoder(w, sch)
	if err != nil {
		b.Fatal(err)
	}
	gen := music.NewGenerator(1)
	records := make([][]byte, distinct)
	var wireBytes int64
	for i := range records {
		payload, err := gen.Next(nil)
		if err != nil {
			b.Fatal(err)
		}
		records[i] = music.AppendWire(nil, 1, payload)
		wireBytes += int64(len(records[i]))
	}

	rb := array.NewRecordBuilder(memory.DefaultAllocator, arr)
	defer rb.Release()
	meta := &schema.Meta{Topic: "tracks", Partition: 3, Key: []byte("trk-0000000042"), IngestedAt: time.Unix(1_700_000_001, 0)}
	var fw *table.DataFileWriter
	var written, rows int64
	closeFile := func() {
		if err := fw.Close(); err != nil {
			b.Fatal(err)
		}
		if _, err := fw.DataFile("bench.parquet", *iceberg.UnpartitionedSpec, nil); err != nil {
			b.Fatal(err)
		}
		written += fw.BytesWritten()
		fw = nil
	}
	pending := 0
	writeChunk := func() {
		if fw == nil {
			var err error
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
		rows += int64(pending)
		pending = 0
	}
	b.SetBytes(wireBytes / distinct)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_, payload, err := schema.SplitWire(records[i%distinct])
		if err != nil {
			b.Fatal(err)
		}
		if err := dec.Decode(payload, rb); err != nil {
			b.Fatal(err)
		}
		meta.Offset, meta.Timestamp = int64(i), time.UnixMilli(1_700_000_000_000+int64(i))
		schema.AppendMeta(rb, meta)
		pending++
		if pending < chunkRows {
			continue
		}
		writeChunk()
		if fw.Rows() >= filesRows {
			closeFile()
		}
	}
	// The tail is encoded untimed, so that even -benchtime=1x runs the
	// whole path through a closed Parquet file.
	if pending > 0 {
		writeChunk()
	}
	if fw != nil {
		closeFile()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/record")
	if rows > 0 && written > 0 {
		b.ReportMetric(float64(written)/float64(rows), "parquet-B/record")
	}
}
