package registry

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"
)

// Each strategy names its own subject; an id registered under another is
// foreign, one registered under it passes.
func TestCheckSubjectStrategies(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	// test.User under the topic subject (id 1), under its record name (id 2)
	// and under topic-record (id 3); other.Thing under another topic (id 4).
	reg.SeedSchema("tracks-value", 1, 1, sr.Schema{Schema: userSchema, Type: sr.TypeAvro})
	userV2 := `{"type":"record","name":"User","namespace":"test","fields":[{"name":"id","type":"long"},{"name":"n","type":["null","int"],"default":null}]}`
	reg.SeedSchema("test.User", 1, 2, sr.Schema{Schema: userV2, Type: sr.TypeAvro})
	userV3 := `{"type":"record","name":"User","namespace":"test","fields":[{"name":"id","type":"long"},{"name":"m","type":["null","int"],"default":null}]}`
	reg.SeedSchema("tracks-test.User", 1, 3, sr.Schema{Schema: userV3, Type: sr.TypeAvro})
	reg.SeedSchema("other-value", 1, 4, sr.Schema{Schema: `{"type":"record","name":"Thing","namespace":"other","fields":[{"name":"x","type":"int"}]}`, Type: sr.TypeAvro})
	r := newTestRegistry(t, reg, RegistryOptions{})
	ctx := context.Background()
	ok := map[string]int{SubjectTopicName: 1, SubjectRecordName: 2, SubjectTopicRecordName: 3}
	for _, strategy := range SubjectStrategies {
		for id := 1; id <= 4; id++ {
			ws, err := r.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			err = r.CheckSubject(ctx, strategy, "tracks", ws)
			switch {
			case id == ok[strategy] && err != nil:
				t.Errorf("%s: id %d: %v, want it accepted", strategy, id, err)
			case id != ok[strategy] && !errors.Is(err, ErrForeignSchema):
				t.Errorf("%s: id %d: %v, want ErrForeignSchema", strategy, id, err)
			case id != ok[strategy] && !strings.Contains(err.Error(), "registered under"):
				t.Errorf("%s: id %d: %q does not say where the id is registered", strategy, id, err)
			}
		}
	}
	if err := r.CheckSubject(ctx, "", "tracks", &WriterSchema{ID: 1}); err != nil {
		t.Errorf("the empty strategy is topic_name: %v", err)
	}
}

// The subjects of an id are asked once; a registry outage is an error
// that is not ErrForeignSchema (the caller waits), and is not cached.
func TestSubjectsCachedAndOutageNotForeign(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("tracks-value", 1, 7, sr.Schema{Schema: userSchema, Type: sr.TypeAvro})
	var calls atomic.Int32
	var down atomic.Bool
	reg.Intercept(func(w http.ResponseWriter, req *http.Request) bool {
		if !strings.HasSuffix(req.URL.Path, "/subjects") {
			return false
		}
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		calls.Add(1)
		return false
	})
	r := newTestRegistry(t, reg, RegistryOptions{MaxRetries: 1})
	ctx := context.Background()
	ws, err := r.Get(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	down.Store(true)
	if err := r.CheckSubject(ctx, SubjectTopicName, "tracks", ws); err == nil || errors.Is(err, ErrForeignSchema) {
		t.Fatalf("registry down: %v, want an error that is not ErrForeignSchema", err)
	}
	down.Store(false)
	for range 3 {
		if err := r.CheckSubject(ctx, SubjectTopicName, "tracks", ws); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("subjects requested %d times, want 1", n)
	}
}

// An id's subjects grow when another topic's producer registers the same
// schema: a cached answer that lacks the subject is asked again.
func TestCheckSubjectSeesNewRegistrations(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("tracks-value", 1, 7, sr.Schema{Schema: userSchema, Type: sr.TypeAvro})
	r := newTestRegistry(t, reg, RegistryOptions{})
	ctx := context.Background()
	ws, err := r.Get(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.CheckSubject(ctx, SubjectTopicName, "tracks", ws); err != nil {
		t.Fatal(err)
	}
	if err := r.CheckSubject(ctx, SubjectTopicName, "plays", ws); !errors.Is(err, ErrForeignSchema) {
		t.Fatalf("plays before registering: %v, want ErrForeignSchema", err)
	}
	cl, err := sr.NewClient(sr.URLs(reg.URL()))
	if err != nil {
		t.Fatal(err)
	}
	if ss, err := cl.CreateSchema(ctx, "plays-value", sr.Schema{Schema: userSchema, Type: sr.TypeAvro}); err != nil || ss.ID != 7 {
		t.Fatalf("register under plays-value: id %d, %v; want the existing id 7", ss.ID, err)
	}
	if err := r.CheckSubject(ctx, SubjectTopicName, "plays", ws); err != nil {
		t.Fatalf("plays after registering: %v", err)
	}
}
