package ingest

import (
	"time"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
)

// RecordMeta is the metadata of Kafka record r, ingested at now: what the
// rules and the transforms see of the record besides its value and
// headers, and what its row's metadata columns hold.
func RecordMeta(r *kgo.Record, now time.Time) schema.Meta {
	return schema.Meta{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, IngestedAt: now}
}

// AppendRow appends to rb the row the pipeline writes for a record it
// keeps: payload, the record's value as Avro of dec's writer schema (after
// the wire header, or converted from JSON or Protobuf), decoded into the
// table's columns, then the metadata columns from meta. On a payload that
// does not decode it returns Decode's error and appends no metadata. The
// bench's limit pipelines call it too, so that they time the pipeline's
// own code.
func AppendRow(rb *array.RecordBuilder, dec *decode.Decoder, payload []byte, meta *schema.Meta) error {
	if err := dec.Decode(payload, rb); err != nil {
		return err
	}
	schema.AppendMeta(rb, meta)
	return nil
}
