package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// The limit pipelines (DESIGN.md §6). Each is one timed pass over the same
// data the end-to-end run ingests, doing only its own part of the work:
//
//	L0  fetch every record from the start with a fresh client, no group, and discard it
//	L1  L0, plus decoding into Arrow builders with the metadata columns, as the pipeline does
//	L2  Parquet encoding of the rows L1 decodes (pre-decoded before timing) into io.Discard
//	L3  uploading the Parquet files L2 makes (pre-encoded before timing) to the warehouse
//
// L1 includes L0's work, so the serial bound composes L1, L2 and L3.

// chunkRows matches the pipeline's record-batch size (ingest/batch.go).
const chunkRows = 8192

// fetchMaxBytes matches the pipeline's default fetch.max_bytes.
const fetchMaxBytes = 50 << 20

// consume reads every partition of ld's topic from offset 0 to its end
// offset with a fresh, group-less client configured like the pipeline's
// (read committed, 50 MiB fetches, polls of up to 50,000 records), handing
// each polled partition to fn.
func consume(ctx context.Context, brokers []string, ld *loaded, phase string, prog *progress,
	fn func(fp *kgo.FetchTopicPartition, now time.Time) error) error {
	parts := make(map[int32]kgo.Offset, len(ld.ends))
	remaining := 0
	for p, end := range ld.ends {
		parts[p] = kgo.NewOffset().AtStart()
		if end > 0 {
			remaining++
		}
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{ld.topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxBytes(fetchMaxBytes),
	)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	next := make(map[int32]int64, len(ld.ends))
	var seen int64
	for remaining > 0 {
		fetches := cl.PollRecords(ctx, 50_000)
		if err := ctx.Err(); err != nil {
			return err
		}
		var ferr error
		fetches.EachError(func(t string, p int32, err error) {
			ferr = errors.Join(ferr, fmt.Errorf("fetch %s/%d: %w", t, p, err))
		})
		if ferr != nil {
			return ferr
		}
		now := time.Now()
		var err error
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if err != nil || len(fp.Records) == 0 {
				return
			}
			if err = fn(&fp, now); err != nil {
				return
			}
			seen += int64(len(fp.Records))
			before := next[fp.Partition]
			next[fp.Partition] = fp.Records[len(fp.Records)-1].Offset + 1
			if end := ld.ends[fp.Partition]; before < end && next[fp.Partition] >= end {
				remaining--
			}
		})
		if err != nil {
			return err
		}
		prog.update(phase, seen, ld.records, "")
	}
	return nil
}

// runL0 fetches and discards every record, touching its key and value.
func runL0(ctx context.Context, brokers []string, ld *loaded, prog *progress) (records, bytes int64, err error) {
	err = consume(ctx, brokers, ld, "L0", prog, func(fp *kgo.FetchTopicPartition, _ time.Time) error {
		for _, r := range fp.Records {
			records++
			bytes += int64(len(r.Key) + len(r.Value))
		}
		return nil
	})
	return records, bytes, err
}

// chunk is one record batch as the pipeline hands it to the Parquet
// writer; endsBatch marks the last chunk of a pipeline batch (a commit),
// after which the pipeline closes the data file.
type chunk struct {
	rec       arrow.RecordBatch
	endsBatch bool
}

// rowDecoder decodes wire-format records into Arrow record batches the way
// the pipeline's worker loop fills its builders: wire split, writer schema
// from the registry (cached), Decode, AppendMeta; a chunk every chunkRows
// rows, and a short one where a batch of batchRows rows ends (the
// pipeline's flush by flush.max_records), so that chunks and files end
// where the pipeline's do.
type rowDecoder struct {
	reg       *registry.Registry
	batchRows int64 // 0: no batch limit
	id        int32
	dec       *decode.Decoder
	sch       *iceberg.Schema
	rb        *array.RecordBuilder
	meta      schema.Meta
	rows      int   // in the builder
	inBatch   int64 // in the current batch
	emit      func(chunk)
}

func (d *rowDecoder) add(ctx context.Context, r *kgo.Record, now time.Time) error {
	id, payload, err := registry.SplitWire(r.Value)
	if err != nil {
		return fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	if d.dec == nil || id != d.id {
		if err := d.bind(ctx, id); err != nil {
			return err
		}
	}
	if err := d.dec.Decode(payload, d.rb); err != nil {
		return fmt.Errorf("decode %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	d.meta = schema.Meta{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, IngestedAt: now}
	schema.AppendMeta(d.rb, &d.meta)
	d.rows++
	d.inBatch++
	switch {
	case d.batchRows > 0 && d.inBatch >= d.batchRows:
		d.flush(true)
		d.inBatch = 0
	case d.rows == chunkRows:
		d.flush(false)
	}
	return nil
}

// bind compiles the decoder of the first writer schema. A workload has one
// writer schema; a second one is an error rather than a second layout.
func (d *rowDecoder) bind(ctx context.Context, id int32) error {
	if d.dec != nil {
		return fmt.Errorf("schema id %d after %d: a bench workload has one writer schema", id, d.id)
	}
	ws, err := d.reg.Get(ctx, int(id))
	if err != nil {
		return fmt.Errorf("writer schema %d: %w", id, err)
	}
	sch, err := schema.ToIceberg(ws.Avro)
	if err != nil {
		return fmt.Errorf("schema %d: %w", id, err)
	}
	arr, err := schema.ArrowSchema(sch)
	if err != nil {
		return err
	}
	dec, err := decode.NewDecoder(ws.Avro, sch)
	if err != nil {
		return err
	}
	d.id, d.dec, d.sch = id, dec, sch
	d.rb = array.NewRecordBuilder(memory.DefaultAllocator, arr)
	return nil
}

func (d *rowDecoder) flush(endsBatch bool) {
	if d.rows == 0 {
		return
	}
	d.emit(chunk{rec: schema.NewRecordBatch(d.rb), endsBatch: endsBatch})
	d.rows = 0
}

func (d *rowDecoder) release() {
	if d.rb != nil {
		d.rb.Release()
	}
}

// decodeAll consumes the topic and decodes every record, handing each
// chunk to emit (which owns its record batch). It returns the table schema
// the rows were decoded into.
func decodeAll(ctx context.Context, brokers []string, ld *loaded, reg *registry.Registry, batchRows int64, phase string, prog *progress,
	emit func(chunk)) (*iceberg.Schema, error) {
	d := &rowDecoder{reg: reg, batchRows: batchRows, emit: emit}
	defer d.release()
	err := consume(ctx, brokers, ld, phase, prog, func(fp *kgo.FetchTopicPartition, now time.Time) error {
		for _, r := range fp.Records {
			if err := d.add(ctx, r, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	d.flush(true)
	return d.sch, nil
}

// runL1 fetches and decodes every record, releasing each chunk (at most
// chunkRows rows) as soon as it is built.
func runL1(ctx context.Context, brokers []string, ld *loaded, reg *registry.Registry, batchRows int64, prog *progress) (*iceberg.Schema, error) {
	return decodeAll(ctx, brokers, ld, reg, batchRows, "L1", prog, func(c chunk) { c.rec.Release() })
}

// predecode decodes every record and keeps the chunks, for L2.
func predecode(ctx context.Context, brokers []string, ld *loaded, reg *registry.Registry, batchRows int64, prog *progress) ([]chunk, *iceberg.Schema, error) {
	var chunks []chunk
	sch, err := decodeAll(ctx, brokers, ld, reg, batchRows, "prep", prog, func(c chunk) { chunks = append(chunks, c) })
	if err != nil {
		releaseAll(chunks)
		return nil, nil, err
	}
	return chunks, sch, nil
}

func releaseAll(chunks []chunk) {
	for _, c := range chunks {
		c.rec.Release()
	}
}

// encodeFiles encodes chunks as Parquet data files with the pipeline's
// writer and options, closing a file where the pipeline does (at the end
// of a batch, or once it reaches targetBytes) with its Iceberg statistics.
// With keep it returns the files' bytes; otherwise they go to io.Discard.
func encodeFiles(chunks []chunk, sch *iceberg.Schema, opts table.DataFileOptions, targetBytes int64, keep bool) (files [][]byte, nFiles int, total int64, err error) {
	var (
		fw  *table.DataFileWriter
		buf *bytes.Buffer
	)
	closeFile := func() error {
		if err := fw.Close(); err != nil {
			return err
		}
		if _, err := fw.DataFile(fmt.Sprintf("bench/l2-%05d.parquet", nFiles), *iceberg.UnpartitionedSpec, nil); err != nil {
			return err
		}
		nFiles++
		total += fw.BytesWritten()
		if keep {
			files = append(files, buf.Bytes())
		}
		fw = nil
		return nil
	}
	for _, c := range chunks {
		if fw == nil {
			var w io.Writer = io.Discard
			if keep {
				buf = new(bytes.Buffer)
				w = buf
			}
			if fw, err = table.NewDataFileWriter(w, sch, opts); err != nil {
				return nil, 0, 0, err
			}
		}
		if err := fw.Write(c.rec); err != nil {
			return nil, 0, 0, err
		}
		if c.endsBatch || fw.BytesWritten()+fw.BufferedBytes() >= targetBytes {
			if err := closeFile(); err != nil {
				return nil, 0, 0, err
			}
		}
	}
	if fw != nil {
		if err := closeFile(); err != nil {
			return nil, 0, 0, err
		}
	}
	return files, nFiles, total, nil
}

// runL3 uploads files under prefix through objstore.Writer, the streaming
// path the pipeline uses (multipart on S3), one file after the other as
// one pipeline worker does. It returns the keys written.
func runL3(ctx context.Context, b objstore.Bucket, prefix string, files [][]byte, prog *progress, records int64) ([]string, error) {
	keys := make([]string, 0, len(files))
	for i, f := range files {
		key := fmt.Sprintf("%s/l3-%05d.parquet", prefix, i)
		w := objstore.NewWriter(ctx, b, key)
		if _, err := w.Write(f); err != nil {
			w.Abort(err)
			return keys, fmt.Errorf("upload %s: %w", key, err)
		}
		if err := w.Close(); err != nil {
			return keys, fmt.Errorf("upload %s: %w", key, err)
		}
		keys = append(keys, key)
		prog.update("L3", records*int64(i+1)/int64(len(files)), records, "")
	}
	return keys, nil
}

// runLimits measures L0 to L3 and appends them to rep.
func runLimits(ctx context.Context, cfg *Config, kenv *kafkaEnv, wh *warehouse, ld *loaded, runID string, rep *Report, prog *progress) error {
	newReg := func() (*registry.Registry, error) {
		return registry.NewRegistry(registry.RegistryOptions{URL: kenv.registryURL, Logger: cfg.Logger})
	}
	check := func(name string, got int64) error {
		if got != ld.records {
			return fmt.Errorf("%s saw %d records, want %d", name, got, ld.records)
		}
		return nil
	}

	l0 := Stage{Name: StageL0, What: "fetch and discard (franz-go, fresh client, no group)"}
	pr, err := startProbe(cfg.profilePath(StageL0))
	if err != nil {
		return err
	}
	defer pr.endProfile()
	n, _, err := runL0(ctx, kenv.brokers, ld, prog)
	if err != nil {
		return fmt.Errorf("L0: %w", err)
	}
	pr.stop(&l0, time.Now(), n, ld.kafkaBytes)
	prog.done()
	if err := check(StageL0, n); err != nil {
		return err
	}
	rep.Stages = append(rep.Stages, l0)

	reg, err := newReg()
	if err != nil {
		return err
	}
	l1 := Stage{Name: StageL1, What: "fetch + wire split + Avro decode into Arrow builders + metadata columns"}
	pr, err = startProbe(cfg.profilePath(StageL1))
	if err != nil {
		return err
	}
	defer pr.endProfile()
	if _, err := runL1(ctx, kenv.brokers, ld, reg, cfg.FlushMaxRecords, prog); err != nil {
		return fmt.Errorf("L1: %w", err)
	}
	pr.stop(&l1, time.Now(), ld.records, ld.kafkaBytes)
	prog.done()
	rep.Stages = append(rep.Stages, l1)

	// L2's input: every row decoded into record batches, before timing.
	chunks, sch, err := predecode(ctx, kenv.brokers, ld, reg, cfg.FlushMaxRecords, prog)
	if err != nil {
		return fmt.Errorf("decode for L2: %w", err)
	}
	defer func() { releaseAll(chunks) }()
	var rows int64
	for _, c := range chunks {
		rows += c.rec.NumRows()
	}
	prog.done()
	if err := check("decode for L2", rows); err != nil {
		return err
	}
	l2 := Stage{Name: StageL2, What: "Parquet encode (table.DataFileWriter, " + rep.Compression + ") of pre-decoded batches into io.Discard"}
	prog.update(StageL2, 0, ld.records, "")
	pr, err = startProbe(cfg.profilePath(StageL2))
	if err != nil {
		return err
	}
	defer pr.endProfile()
	_, nFiles, out, err := encodeFiles(chunks, sch, cfg.DataFile, cfg.TargetFileSize, false)
	if err != nil {
		return fmt.Errorf("L2: %w", err)
	}
	pr.stop(&l2, time.Now(), rows, ld.kafkaBytes)
	prog.update(StageL2, rows, ld.records, "")
	prog.done()
	l2.OutBytes, l2.Files = out, nFiles
	rep.Stages = append(rep.Stages, l2)

	// L3's input: the same files, encoded again into memory before timing.
	files, _, _, err := encodeFiles(chunks, sch, cfg.DataFile, cfg.TargetFileSize, true)
	if err != nil {
		return fmt.Errorf("encode for L3: %w", err)
	}
	releaseAll(chunks)
	chunks = nil
	l3 := Stage{Name: StageL3, What: "upload of L2's Parquet files (objstore.Writer) to the warehouse under bench/"}
	prefix := "bench/" + runID
	pr, err = startProbe(cfg.profilePath(StageL3))
	if err != nil {
		return err
	}
	defer pr.endProfile()
	keys, err := runL3(ctx, wh.bucket, prefix, files, prog, ld.records)
	if err == nil {
		pr.stop(&l3, time.Now(), ld.records, ld.kafkaBytes)
	}
	for _, k := range keys {
		if derr := wh.bucket.Delete(ctx, k); derr != nil {
			cfg.Logger.Warn("delete bench upload", "file", k, "err", derr)
		}
	}
	if err != nil {
		return fmt.Errorf("L3: %w", err)
	}
	prog.done()
	for _, f := range files {
		l3.OutBytes += int64(len(f))
	}
	l3.Files = len(files)
	rep.Stages = append(rep.Stages, l3)
	return nil
}
