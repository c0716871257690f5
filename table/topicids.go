package table

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	iceberg "github.com/apache/iceberg-go"
	icebergtable "github.com/apache/iceberg-go/table"
)

// PropTopicIDsPrefix + pipeline id is the table property holding the
// Kafka topic id of every topic the pipeline's watermarks count offsets
// of, as {"topic": "<topic id>"}. A watermark is an offset into one
// incarnation of a topic: a topic deleted and recreated under the same
// name starts again at offset 0, and only its id tells it apart. It is
// written in the commit that sets the watermarks and, like them, is never
// touched by compaction or retention.
const PropTopicIDsPrefix = "bigfather.topic-ids."

// ErrTopicIDChanged refuses a commit whose topic id differs from the one
// the table stores for the topic: the batch was read from another
// incarnation of the topic than the watermarks count offsets of.
var ErrTopicIDChanged = errors.New("topic id differs from the one stored with the watermarks")

// TopicIDs reads the topic ids stored with pipeline's watermarks. Tables
// committed before topic ids were stored have none (an empty, non-nil map).
func TopicIDs(meta icebergtable.Metadata, pipeline string) (map[string]string, error) {
	return topicIDsFromProps(meta.Properties(), pipeline)
}

func topicIDsFromProps(props iceberg.Properties, pipeline string) (map[string]string, error) {
	key := PropTopicIDsPrefix + pipeline
	raw, ok := props[key]
	if !ok || raw == "" {
		return map[string]string{}, nil
	}
	var ids map[string]string
	if err := json.Unmarshal([]byte(raw), &ids); err != nil {
		return nil, fmt.Errorf("table property %s: %w", key, err)
	}
	if ids == nil {
		ids = map[string]string{}
	}
	return ids, nil
}

// stageTopicIDs adds b's topic ids to props when they are new to the
// table. A topic whose stored id differs is refused: the batch's offsets
// belong to another topic than the watermarks'.
func stageTopicIDs(props iceberg.Properties, cur iceberg.Properties, b *Batch) error {
	if len(b.TopicIDs) == 0 {
		return nil
	}
	stored, err := topicIDsFromProps(cur, b.Pipeline)
	if err != nil {
		return err
	}
	next := maps.Clone(stored)
	for _, topic := range slices.Sorted(maps.Keys(b.TopicIDs)) {
		id := b.TopicIDs[topic]
		if id == "" {
			continue
		}
		if old, ok := stored[topic]; ok && old != id {
			return fmt.Errorf("%w: topic %s: table has %s, batch read %s", ErrTopicIDChanged, topic, old, id)
		}
		next[topic] = id
	}
	if maps.Equal(next, stored) {
		return nil
	}
	raw, err := json.Marshal(next)
	if err != nil {
		return err
	}
	props[PropTopicIDsPrefix+b.Pipeline] = string(raw)
	return nil
}
