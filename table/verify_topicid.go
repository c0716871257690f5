package table

import (
	"context"
	"fmt"
	"maps"
	"slices"

	icebergtable "github.com/apache/iceberg-go/table"
)

// TopicIDFunc returns the current Kafka topic id of each of topics that
// exists, by name; a topic missing from the answer does not exist.
type TopicIDFunc func(ctx context.Context, topics []string) (map[string]string, error)

// WithTopicIDs makes Verify compare the topic ids stored with the
// watermarks (PropTopicIDsPrefix) with Kafka's: a watermark counts offsets
// of one incarnation of a topic, and a topic deleted and recreated under
// it would be checked against records it never saw.
func WithTopicIDs(fn TopicIDFunc) VerifyOption { return func(o *verifyOptions) { o.topicIDs = fn } }

// topicIDViolations reports every table whose stored topic id is not the
// current id of its topic.
func topicIDViolations(ctx context.Context, tables []*icebergtable.Table, pipeline string, fn TopicIDFunc) ([]string, error) {
	if fn == nil {
		return nil, nil
	}
	stored := make([]map[string]string, len(tables))
	topics := map[string]bool{}
	for i, tbl := range tables {
		ids, err := TopicIDs(tbl.Metadata(), pipeline)
		if err != nil {
			return nil, err
		}
		stored[i] = ids
		for t := range ids {
			topics[t] = true
		}
	}
	if len(topics) == 0 {
		return nil, nil
	}
	cur, err := fn(ctx, slices.Sorted(maps.Keys(topics)))
	if err != nil {
		return nil, fmt.Errorf("read topic ids from kafka: %w", err)
	}
	var out []string
	for i, tbl := range tables {
		for _, topic := range slices.Sorted(maps.Keys(stored[i])) {
			want := stored[i][topic]
			// A topic that no longer exists is not a violation: its rows
			// get the table-only checks, and the report notes the topic.
			if got, ok := cur[topic]; ok && got != want {
				out = append(out, fmt.Sprintf("%s: topic %s: topic id %s is stored with the watermarks, but the topic's id is %s: it was deleted and recreated",
					ident(tbl), topic, want, got))
			}
		}
	}
	return out, nil
}
