package table_test

import (
	"context"
	"errors"
	"testing"

	"github.com/bigfather/bigfather/table"
)

// The commit that sets the watermarks stores the batch's topic ids; a
// later batch of the same topic under another id is refused, and the
// stored ids survive commits that carry none.
func TestCommitStoresTopicIDs(t *testing.T) {
	f := newFixture(t)
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	ctx := context.Background()
	b := f.batch(nil, 0, 5, offsetsRange(0, 5))
	b.TopicIDs = map[string]string{tp0.Topic: "id-one"}
	res, err := c.Commit(ctx, f.tbl, b)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := table.TopicIDs(res.Table.Metadata(), pipe)
	if err != nil || ids[tp0.Topic] != "id-one" {
		t.Fatalf("topic ids %v (%v), want %s: id-one", ids, err, tp0.Topic)
	}
	if other, _ := table.TopicIDs(res.Table.Metadata(), "another-pipeline"); len(other) != 0 {
		t.Fatalf("another pipeline sees topic ids %v", other)
	}

	b = f.batch(ptr(5), 5, 8, offsetsRange(5, 8))
	b.TopicIDs = map[string]string{tp0.Topic: "id-two"}
	if _, err := c.Commit(ctx, res.Table, b); !errors.Is(err, table.ErrTopicIDChanged) {
		t.Fatalf("commit under another topic id: %v, want ErrTopicIDChanged", err)
	}
	if res, err = c.Commit(ctx, res.Table, f.batch(ptr(5), 5, 8, offsetsRange(5, 8))); err != nil {
		t.Fatal(err)
	}
	if ids, _ := table.TopicIDs(res.Table.Metadata(), pipe); ids[tp0.Topic] != "id-one" {
		t.Fatalf("topic ids %v after a commit without ids, want id-one kept", ids)
	}
}

// Verify with topic ids reports a stored id that is not the topic's
// current one; a topic that no longer exists is left to the notes.
func TestVerifyReportsTopicIDMismatch(t *testing.T) {
	f := newFixture(t)
	c := table.NewCommitter(f.cat, table.CommitterOptions{})
	ctx := context.Background()
	b := f.batch(nil, 0, 5, offsetsRange(0, 5))
	b.TopicIDs = map[string]string{tp0.Topic: "id-one"}
	res, err := c.Commit(ctx, f.tbl, b)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		current map[string]string
		ok      bool
	}{
		{"same id", map[string]string{tp0.Topic: "id-one"}, true},
		{"recreated", map[string]string{tp0.Topic: "id-two"}, false},
		{"deleted", map[string]string{}, true},
	} {
		ids := func(context.Context, []string) (map[string]string, error) { return tc.current, nil }
		rep, err := table.Verify(ctx, res.Table, pipe, nil, table.WithTopicIDs(ids))
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK() != tc.ok {
			t.Errorf("%s: violations %v, want ok=%v", tc.name, rep.Violations, tc.ok)
		}
	}
}
