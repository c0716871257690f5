package ingest

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bigfather/bigfather/table"
)

var (
	// ErrTopicRecreated halts every partition of a topic whose Kafka topic
	// id is not the one stored with the tables' watermarks
	// (table.PropTopicIDsPrefix): the topic was deleted and recreated, and
	// the watermarks count offsets of the old one. Resuming at them would
	// pass over the new topic's first records, so no on_gap policy applies:
	// an operator must decide (docs/operations.md, "Halts").
	ErrTopicRecreated = errors.New("topic recreated: its topic id differs from the one stored with the watermarks")
	// ErrTopicDeleted halts the partitions of a topic that was deleted
	// while they were consumed, once it stays missing (topicMissingHalt).
	ErrTopicDeleted = errors.New("topic deleted while consumed")
)

const (
	// topicIDRecheck bounds how often a topic's fetch errors are confirmed
	// against a metadata request, and how often an unconfirmed one is
	// logged: a fetch error comes back on every fetch.
	topicIDRecheck = time.Second
	// topicMissingHalt is how long a consumed topic may be missing from
	// the metadata before its partitions halt: a delete and a create are
	// two requests, and between them the topic is briefly gone.
	topicMissingHalt = 3 * time.Second
)

// topicIDs is what the pipeline knows of its topics' ids (guarded by
// Pipeline.mu).
type topicIDs struct {
	// cur is each assigned topic's id as the metadata gave it at
	// assignment: the id the batches read from it record.
	cur map[string]string
	// checked is when a topic's fetch errors were last confirmed;
	// missing when a confirmation first found it gone.
	checked, missing map[string]time.Time
}

// encodeTopicID writes a topic id as Kafka's tools print it (URL-safe
// base64, unpadded); "" for the zero id of a broker without topic ids.
func encodeTopicID(id [16]byte) string {
	if id == [16]byte{} {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// fetchTopicIDs asks a broker, bypassing the client's metadata cache, for
// the ids of topics; a topic missing from the answer does not exist.
func fetchTopicIDs(ctx context.Context, cl *kgo.Client, topics []string) (map[string]string, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(t)
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	out := make(map[string]string, len(resp.Topics))
	for _, t := range resp.Topics {
		if t.Topic == nil {
			continue
		}
		err := kerr.ErrorForCode(t.ErrorCode)
		switch {
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			continue
		case err != nil:
			return nil, fmt.Errorf("metadata of topic %s: %w", *t.Topic, err)
		}
		out[*t.Topic] = encodeTopicID(t.TopicID)
	}
	return out, nil
}

// CurrentTopicIDs returns a table.TopicIDFunc reading topic ids from the
// cluster base connects to, for verify.
func CurrentTopicIDs(base []kgo.Opt) table.TopicIDFunc {
	return func(ctx context.Context, topics []string) (map[string]string, error) {
		cl, err := kgo.NewClient(base...)
		if err != nil {
			return nil, err
		}
		defer cl.Close()
		ids, err := fetchTopicIDs(ctx, cl, topics)
		if err != nil {
			return nil, err
		}
		for t, id := range ids {
			if id == "" {
				delete(ids, t) // a broker without topic ids: nothing to compare
			}
		}
		return ids, nil
	}
}

// learnTopicIDs reads the current ids of newly assigned topics
// (adjustOffsets): the ids the partitions' batches record, and the ones
// checkTopicID compares with the tables'.
func (p *Pipeline) learnTopicIDs(ctx context.Context, topics []string) error {
	ids, err := fetchTopicIDs(ctx, p.cl, topics)
	if err != nil {
		return fmt.Errorf("read topic ids: %w", err)
	}
	if p.tids.cur == nil {
		p.tids.cur = make(map[string]string)
	}
	for _, t := range topics {
		if id := ids[t]; id != "" {
			p.tids.cur[t] = id
		} else {
			delete(p.tids.cur, t)
		}
	}
	return nil
}

// checkTopicID halts tp when a table of its route stores another topic id
// for the topic than the current one (learnTopicIDs). A table committed
// before topic ids were stored has none: it records the current id with
// its next commit, and never halts for the missing one.
func (p *Pipeline) checkTopicID(rt *topicRoute, tp table.TP) {
	cur := p.tids.cur[tp.Topic]
	if cur == "" {
		return // a broker without topic ids
	}
	var old string
	var wms []string
	for _, t := range rt.all {
		if t.tbl == nil {
			continue
		}
		ids, err := table.TopicIDs(t.tbl.Metadata(), p.opts.Pipeline)
		if err != nil {
			p.halt(tp, fmt.Errorf("%s: %w", t.name, err))
			return
		}
		if id, ok := ids[tp.Topic]; ok && id != cur {
			old = id
			if w, ok := t.wm[tp]; ok {
				wms = append(wms, fmt.Sprintf("%s at %d", t.name, w))
			} else {
				wms = append(wms, t.name+" with none for this partition")
			}
		}
	}
	if old == "" {
		return
	}
	p.halt(tp, fmt.Errorf("%w: %s: the tables' watermarks (%s) count offsets of topic id %s, but the topic's id is now %s: "+
		"it was deleted and recreated, and resuming would pass over the new topic's records",
		ErrTopicRecreated, tp, strings.Join(wms, ", "), old, cur))
}

// batchTopicIDs is the topic ids a commit of b records: those of the
// topics it covers.
func (p *Pipeline) batchTopicIDs(b *batch) map[string]string {
	var out map[string]string
	for tp := range b.consumed() {
		if id := p.tids.cur[tp.Topic]; id != "" {
			if out == nil {
				out = make(map[string]string)
			}
			out[tp.Topic] = id
		}
	}
	return out
}

// topicFetchError handles a fetch error that says the topic id the client
// fetches with is unknown (the topic was deleted, and maybe recreated):
// it confirms with a metadata request, at most once a second per topic,
// and halts the topic's partitions when the id changed or the topic stays
// gone. Halting pauses them, which ends the error on every fetch. It
// reports whether it took the error, which is then not logged as a
// plain fetch error.
func (p *Pipeline) topicFetchError(ctx context.Context, fe kgo.FetchError) bool {
	if !errors.Is(fe.Err, kerr.UnknownTopicID) && !errors.Is(fe.Err, kerr.InconsistentTopicID) {
		return false
	}
	now := time.Now()
	if p.tids.checked == nil {
		p.tids.checked, p.tids.missing = make(map[string]time.Time), make(map[string]time.Time)
	}
	if now.Sub(p.tids.checked[fe.Topic]) < topicIDRecheck {
		return true
	}
	p.tids.checked[fe.Topic] = now
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ids, err := fetchTopicIDs(mctx, p.cl, []string{fe.Topic})
	if err != nil {
		p.log.Warn("fetch: unknown topic id, and its metadata cannot be read",
			"topic", fe.Topic, "partition", fe.Partition, "err", errors.Join(fe.Err, err))
		return true
	}
	old := p.tids.cur[fe.Topic]
	id, exists := ids[fe.Topic]
	var cause error
	switch {
	case exists && (old == "" || id == old):
		// The broker knows the id we fetch with, or we never knew one: a
		// stale broker or client metadata, which the client refreshes.
		delete(p.tids.missing, fe.Topic)
		p.log.Warn("fetch: unknown topic id, the topic's id is unchanged",
			"topic", fe.Topic, "partition", fe.Partition, "topic_id", id, "err", fe.Err)
		return true
	case exists:
		cause = fmt.Errorf("%w: topic %s: the consumed topic id %s was replaced by %s while consuming: it was deleted and recreated",
			ErrTopicRecreated, fe.Topic, old, id)
	default:
		first, ok := p.tids.missing[fe.Topic]
		if !ok {
			p.tids.missing[fe.Topic] = now
			first = now
		}
		if now.Sub(first) < topicMissingHalt {
			p.log.Warn("fetch: the topic is missing from the metadata",
				"topic", fe.Topic, "partition", fe.Partition, "topic_id", old, "err", fe.Err)
			return true
		}
		cause = fmt.Errorf("%w: topic %s (id %s) no longer exists", ErrTopicDeleted, fe.Topic, old)
	}
	for _, tp := range p.ownedOf(fe.Topic, fe.Partition) {
		p.halt(tp, fmt.Errorf("%w; %s", cause, p.watermarksOf(tp)))
	}
	return true
}

// ownedOf lists the partitions of topic this worker consumes, part among
// them.
func (p *Pipeline) ownedOf(topic string, part int32) []table.TP {
	set := map[table.TP]bool{{Topic: topic, Partition: part}: true}
	for tp := range p.hw {
		if tp.Topic == topic {
			set[tp] = true
		}
	}
	if rt := p.routes[topic]; rt != nil {
		for _, t := range rt.all {
			for tp := range t.wm {
				if tp.Topic == topic {
					set[tp] = true
				}
			}
		}
	}
	return slices.SortedFunc(maps.Keys(set), func(a, b table.TP) int { return int(a.Partition) - int(b.Partition) })
}

// watermarksOf names each table's watermark of tp, for a halt message.
func (p *Pipeline) watermarksOf(tp table.TP) string {
	rt := p.routes[tp.Topic]
	if rt == nil {
		return "no table watermark"
	}
	var parts []string
	for _, t := range rt.all {
		if w, ok := t.wm[tp]; ok {
			parts = append(parts, fmt.Sprintf("%s at %d", t.name, w))
		}
	}
	if len(parts) == 0 {
		return tp.String() + ": no table has a watermark yet"
	}
	return tp.String() + ": watermarks " + strings.Join(parts, ", ")
}
