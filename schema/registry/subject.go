package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
)

// Subject name strategies: how a producer's serializer names the subject
// a record's schema is registered under (Confluent's
// TopicNameStrategy, RecordNameStrategy and TopicRecordNameStrategy).
const (
	// SubjectTopicName is "<topic>-value", the default: one schema
	// lineage per topic.
	SubjectTopicName = "topic_name"
	// SubjectRecordName is the record's fully-qualified name: a topic may
	// carry several record types, each with its own lineage.
	SubjectRecordName = "record_name"
	// SubjectTopicRecordName is "<topic>-<record name>".
	SubjectTopicRecordName = "topic_record_name"
)

// SubjectStrategies lists the accepted strategies, the default first.
var SubjectStrategies = []string{SubjectTopicName, SubjectRecordName, SubjectTopicRecordName}

// ErrForeignSchema means a record's schema id is not registered under the
// subject its topic's records must use (SubjectFor): the record was
// produced with another topic's or another record type's schema, and
// decoding it as this topic's data would be a guess.
var ErrForeignSchema = errors.New("schema id is not registered under the topic's subject")

// SubjectFor returns the subject a value record of topic written with ws
// is registered under, by strategy.
func SubjectFor(strategy, topic string, ws *WriterSchema) (string, error) {
	switch strategy {
	case "", SubjectTopicName:
		return topic + "-value", nil
	case SubjectRecordName, SubjectTopicRecordName:
		name := RecordName(ws)
		if name == "" {
			return "", fmt.Errorf("schema %d has no record name for the %s strategy", ws.ID, strategy)
		}
		if strategy == SubjectRecordName {
			return name, nil
		}
		return topic + "-" + name, nil
	}
	return "", fmt.Errorf("unknown subject name strategy %q", strategy)
}

// RecordName is the fully-qualified record name a serializer's record
// name strategies use: the Avro record's full name, the Protobuf
// message's, or a JSON Schema's title.
func RecordName(ws *WriterSchema) string {
	if ws.JSON != nil {
		var doc struct {
			Title string `json:"title"`
		}
		if json.Unmarshal([]byte(ws.Text), &doc) == nil && doc.Title != "" {
			return doc.Title
		}
	}
	if n, ok := ws.Avro.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return ""
}

// Subjects returns the subjects schema id is registered under, soft
// deleted versions included, so that the verdict on a record does not
// change when a subject version is deleted later. The answer is cached
// per id (CheckSubject asks again on a miss). Errors are as Get's: ErrUnknownSchema only when the registry
// says so, anything else may be transient.
func (r *Registry) Subjects(ctx context.Context, id int) ([]string, error) {
	r.mu.RLock()
	subs, ok := r.subjects[id]
	r.mu.RUnlock()
	if ok {
		return subs, nil
	}
	return r.fetchSubjects(ctx, id)
}

// fetchSubjects asks the registry for id's subjects and caches the answer;
// concurrent callers share one request.
func (r *Registry) fetchSubjects(ctx context.Context, id int) ([]string, error) {
	key := "subjects/" + strconv.Itoa(id)
	for {
		ch := r.group.DoChan(key, func() (any, error) {
			var got []string
			err := r.retry(ctx, "schema_id", id, func() error {
				var err error
				got, err = r.cl.SubjectsByID(sr.WithParams(ctx, sr.ShowDeleted), id)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("subjects of schema %d: %w", id, err)
			}
			slices.Sort(got)
			r.mu.Lock()
			if r.subjects == nil {
				r.subjects = make(map[int][]string)
			}
			r.subjects[id] = got
			r.mu.Unlock()
			return got, nil
		})
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("subjects of schema %d: %w", id, ctx.Err())
		case res := <-ch:
			if res.Err == nil {
				return res.Val.([]string), nil
			}
			if errors.Is(res.Err, errFetchAbandoned) && ctx.Err() == nil {
				continue
			}
			return nil, res.Err
		}
	}
}

// CheckSubject reports, wrapping ErrForeignSchema, a writer schema that is
// not registered under the subject strategy names for topic. Other errors
// come from the registry and may be transient.
func (r *Registry) CheckSubject(ctx context.Context, strategy, topic string, ws *WriterSchema) error {
	want, err := SubjectFor(strategy, topic, ws)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrForeignSchema, err)
	}
	r.mu.RLock()
	subs := r.subjects[ws.ID]
	r.mu.RUnlock()
	if _, found := slices.BinarySearch(subs, want); found {
		return nil
	}
	// The subjects of an id grow: a producer of a new topic registers an
	// existing schema under its own subject before it writes the first
	// record with the id. So a miss asks the registry again; the caller
	// caches its verdict on the record's schema.
	subs, err = r.fetchSubjects(ctx, ws.ID)
	if err != nil {
		return err
	}
	if _, found := slices.BinarySearch(subs, want); found {
		return nil
	}
	return fmt.Errorf("%w: schema %d is registered under %v, not %q (subject name strategy %s)", ErrForeignSchema, ws.ID, subs, want, strategyName(strategy))
}

func strategyName(s string) string {
	if s == "" {
		return SubjectTopicName
	}
	return s
}
