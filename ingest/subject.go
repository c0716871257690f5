package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/bigfather/bigfather/schema"
)

// subjectCheck checks a record's writer schema against its topic's
// subject under the configured strategy (schema.SubjectFor). It returns
// the reason to reject the record with and why, or, with an empty
// reason, an error that must stop the record (the context ended). A
// registry outage is waited out, as writerSchema does: a good record is
// never rejected because the registry is down.
func (p *Pipeline) subjectCheck(ctx context.Context, topic string, id int, ws *schema.WriterSchema) (string, error) {
	// The registry id, not the one of a Protobuf message's translation.
	sub := *ws
	sub.ID = id
	wait := 250 * time.Millisecond
	for {
		err := p.opts.Registry.CheckSubject(ctx, p.opts.SubjectNameStrategy, topic, &sub)
		switch {
		case err == nil:
			return "", nil
		case errors.Is(err, schema.ErrForeignSchema):
			return "foreign-schema", err
		case errors.Is(err, schema.ErrUnknownSchema):
			return "unknown-schema", err
		}
		p.m.registryWait.Inc()
		p.opts.Logger.Warn("schema registry unavailable, pausing", "pipeline", p.opts.Pipeline, "topic", topic, "schema_id", id, "err", err)
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}
