package main

import (
	"strings"
	"testing"
)

// A topic deleted and recreated after ingestion, the new one already
// longer than the old watermark: every offset the table holds is in Kafka
// again, so only the topic id stored with the watermarks tells verify
// that they are another topic's records (issue 11 item 4).
func TestVerifyTopicRecreatedAfterIngestion(t *testing.T) {
	t.Parallel()
	e := newVerifyEnv(t, "earliest")
	e.send(t, 0, 3)
	e.ingest(t, 3)
	k := e.cluster.Kafka()
	if err := k.DeleteTopic(verifyTopic); err != nil {
		t.Fatal(err)
	}
	if err := k.CreateTopic(verifyTopic, 4, nil); err != nil {
		t.Fatal(err)
	}
	e.send(t, 0, 5)
	rep, text, err := e.verify(t)
	if err == nil || rep.OK {
		t.Fatalf("verify passed a recreated topic: %v\n%s", err, text)
	}
	found := false
	for _, r := range rep.Reports {
		for _, v := range r.Violations {
			found = found || strings.Contains(v, "topic id") && strings.Contains(v, "recreated")
		}
	}
	if !found {
		t.Fatalf("no topic id violation:\n%s", text)
	}
}
