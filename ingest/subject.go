package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/bigfather/bigfather/internal/backoff"
	"github.com/bigfather/bigfather/schema/registry"
)

// subjectKey and subjectVerdict cache subjectCheck's answers, so that a
// record costs one map lookup. A kept verdict never changes: a subject
// does not lose a schema id a record was written with. A rejection can:
// a producer registering an existing schema under its own topic's subject
// gets the existing id, so the id gains the subject. A rejection is
// therefore asked again once it is recheckRejected old, which bounds the
// registry requests of a flood of foreign records to one a second.
type subjectKey struct {
	topic string
	ws    *registry.WriterSchema
}

type subjectVerdict struct {
	reason Reason
	err    error
	at     time.Time // when a rejection was decided
}

const recheckRejected = time.Second

// subjectCheck checks a record's writer schema against its topic's
// subject under the configured strategy (registry.SubjectFor). It returns
// the reason to reject the record with and why, or, with an empty
// reason, an error that must stop the record (the context ended). A
// registry outage is waited out, as writerSchema does: a good record is
// never rejected because the registry is down.
func (p *Pipeline) subjectCheck(ctx context.Context, topic string, id int, ws *registry.WriterSchema) (Reason, error) {
	key := subjectKey{topic, ws}
	if v, ok := p.subjects[key]; ok && (v.reason == "" || time.Since(v.at) < recheckRejected) {
		return v.reason, v.err
	}
	// The registry id, not the one of a Protobuf message's translation.
	sub := *ws
	sub.ID = id
	wait := backoff.New(250*time.Millisecond, 10*time.Second)
	for {
		v, final := verdictOf(p.opts.Registry.CheckSubject(ctx, p.opts.SubjectNameStrategy, topic, &sub))
		if final {
			if p.subjects == nil {
				p.subjects = make(map[subjectKey]subjectVerdict)
			}
			v.at = time.Now()
			p.subjects[key] = v
			return v.reason, v.err
		}
		p.m.registryWait.Inc()
		p.log.Warn("schema registry unavailable, pausing", "topic", topic, "schema_id", id, "err", v.err)
		if err := wait.Wait(ctx); err != nil {
			return "", err
		}
	}
}

// verdictOf sorts CheckSubject's answer: final unless the registry could
// not be asked.
func verdictOf(err error) (v subjectVerdict, final bool) {
	switch {
	case err == nil:
		return v, true
	case errors.Is(err, registry.ErrForeignSchema):
		return subjectVerdict{reason: reasonForeignSchema, err: err}, true
	case errors.Is(err, registry.ErrUnknownSchema):
		return subjectVerdict{reason: reasonUnknownSchema, err: err}, true
	}
	return subjectVerdict{err: err}, false
}
