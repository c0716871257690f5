package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/bigfather/bigfather/schema"
)

const userSchema = `{"type":"record","name":"User","namespace":"test","fields":[{"name":"id","type":"long"}]}`

// countIDRequests counts GET /schemas/ids/* requests and lets them through.
func countIDRequests(reg *srfake.Registry) *atomic.Int32 {
	var n atomic.Int32
	reg.Intercept(func(_ http.ResponseWriter, r *http.Request) bool {
		if strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			n.Add(1)
		}
		return false
	})
	return &n
}

// failFirst answers the first n requests with status and no registry body.
func failFirst(reg *srfake.Registry, n int32, status int) {
	var seen atomic.Int32
	reg.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		if seen.Add(1) > n {
			return false
		}
		w.WriteHeader(status)
		return true
	})
}

func newTestRegistry(t *testing.T, reg *srfake.Registry, opts RegistryOptions) *Registry {
	t.Helper()
	opts.URL = reg.URL()
	if opts.RetryBackoff == 0 {
		opts.RetryBackoff = time.Millisecond
	}
	r, err := NewRegistry(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegistryCacheHit(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("user-value", 1, 7, sr.Schema{Schema: userSchema, Type: sr.TypeAvro})
	calls := countIDRequests(reg)
	r := newTestRegistry(t, reg, RegistryOptions{})

	for range 3 {
		ws, err := r.Get(context.Background(), 7)
		if err != nil {
			t.Fatal(err)
		}
		if ws.ID != 7 || ws.Text != userSchema {
			t.Fatalf("got id %d text %q", ws.ID, ws.Text)
		}
		rec, ok := ws.Avro.(*avro.RecordSchema)
		if !ok || rec.FullName() != "test.User" {
			t.Fatalf("parsed schema = %v", ws.Avro)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("registry requests = %d, want 1", got)
	}
}

func TestRegistryConcurrentMissesShareOneFetch(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("user-value", 1, 3, sr.Schema{Schema: userSchema, Type: sr.TypeAvro})
	calls := countIDRequests(reg)
	release := make(chan struct{})
	reg.Intercept(func(http.ResponseWriter, *http.Request) bool { <-release; return false })
	r := newTestRegistry(t, reg, RegistryOptions{})

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := r.Get(context.Background(), 3)
			errs <- err
		})
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("registry requests = %d, want 1", got)
	}
}

func TestRegistryUnknownIDIsNotRetried(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	calls := countIDRequests(reg)
	r := newTestRegistry(t, reg, RegistryOptions{MaxRetries: 5})

	_, err := r.Get(context.Background(), 404)
	if !errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("err = %v, want ErrUnknownSchema", err)
	}
	if got := calls.Load(); got != 1 {
		t.Errorf("registry requests = %d, want 1 (no retry)", got)
	}
}

func TestRegistryTransientFailures(t *testing.T) {
	cases := []struct {
		name       string
		failures   int32
		status     int
		maxRetries int
		wantErr    bool
		wantCalls  int32
	}{
		{"503 then success", 2, http.StatusServiceUnavailable, 3, false, 3},
		{"429 then success", 1, http.StatusTooManyRequests, 3, false, 2},
		{"outage outlasts retries", 100, http.StatusServiceUnavailable, 2, true, 3},
		{"retries disabled", 100, http.StatusBadGateway, -1, true, 1},
		{"401 is not retried", 100, http.StatusUnauthorized, 3, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := srfake.New()
			defer reg.Close()
			reg.SeedSchema("user-value", 1, 1, sr.Schema{Schema: userSchema, Type: sr.TypeAvro})
			calls := countIDRequests(reg)
			failFirst(reg, tc.failures, tc.status)
			r := newTestRegistry(t, reg, RegistryOptions{MaxRetries: tc.maxRetries})

			ws, err := r.Get(context.Background(), 1)
			if tc.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				if errors.Is(err, ErrUnknownSchema) {
					t.Fatalf("err = %v: a transient failure must not look like an unknown schema", err)
				}
			} else if err != nil || ws.ID != 1 {
				t.Fatalf("got %v, %v", ws, err)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("registry requests = %d, want %d", got, tc.wantCalls)
			}
		})
	}
}

func TestRegistryContextCancelStopsRetries(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reg.Intercept(func(w http.ResponseWriter, _ *http.Request) bool {
		cancel() // the outage begins and the caller gives up
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	r := newTestRegistry(t, reg, RegistryOptions{RetryBackoff: time.Hour, MaxRetries: 100})
	_, err := r.Get(ctx, 1)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("err = %v must not be ErrUnknownSchema", err)
	}
}

func TestRegistryReferences(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("address-value", 1, 1, sr.Schema{
		Schema: `{"type":"record","name":"Address","namespace":"test","fields":[{"name":"street","type":"string"}]}`,
		Type:   sr.TypeAvro,
	})
	reg.SeedSchema("person-value", 1, 2, sr.Schema{
		Schema:     `{"type":"record","name":"Person","namespace":"test","fields":[{"name":"home","type":"test.Address"}]}`,
		Type:       sr.TypeAvro,
		References: []sr.SchemaReference{{Name: "test.Address", Subject: "address-value", Version: 1}},
	})
	r := newTestRegistry(t, reg, RegistryOptions{})
	ws, err := r.Get(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := schema.ToIceberg(ws.Avro)
	if err != nil {
		t.Fatal(err)
	}
	home, ok := sc.FindFieldByName("home.street")
	if !ok || home.Type.String() != "string" {
		t.Fatalf("home.street = %v, %v; schema %s", home, ok, sc)
	}
}

func TestRegistryBasicAuth(t *testing.T) {
	reg := srfake.New(srfake.WithAuth("Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))))
	defer reg.Close()
	reg.SeedSchema("user-value", 1, 1, sr.Schema{Schema: userSchema, Type: sr.TypeAvro})

	good := newTestRegistry(t, reg, RegistryOptions{Username: "u", Password: "p"})
	if _, err := good.Get(context.Background(), 1); err != nil {
		t.Fatalf("with credentials: %v", err)
	}
	bad := newTestRegistry(t, reg, RegistryOptions{Username: "u", Password: "wrong", MaxRetries: -1})
	if _, err := bad.Get(context.Background(), 1); err == nil || errors.Is(err, ErrUnknownSchema) {
		t.Fatalf("with wrong credentials: err = %v, want a non-unknown error", err)
	}
}

func TestNewRegistryNeedsURL(t *testing.T) {
	if _, err := NewRegistry(RegistryOptions{URL: " , "}); err == nil {
		t.Fatal("want an error for an empty URL")
	}
}

// A JSON Schema comes back with its Avro translation and a converter; a
// Protobuf schema is unsupported, permanently: asked for once, never
// retried, and never mistaken for an outage.
func TestRegistrySchemaTypes(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	reg.SeedSchema("orders-value", 1, 11, sr.Schema{Schema: orderJSONSchema, Type: sr.TypeJSON})
	reg.SeedSchema("events-value", 1, 12, sr.Schema{Schema: `syntax = "proto3"; message E { E next = 1; }`, Type: sr.TypeProtobuf})
	reg.SeedSchema("plays-value", 1, 13, sr.Schema{Schema: `syntax = "proto3"; message P { int64 id = 1; }`, Type: sr.TypeProtobuf})
	calls := countIDRequests(reg)
	r := newTestRegistry(t, reg, RegistryOptions{})

	ws, err := r.Get(context.Background(), 11)
	if err != nil {
		t.Fatal(err)
	}
	if ws.JSON == nil || ws.Avro.Type() != avro.Record {
		t.Fatalf("json schema: converter %v, avro %v", ws.JSON, ws.Avro)
	}
	ps, err := r.Get(context.Background(), 13)
	if err != nil || ps.Proto == nil {
		t.Fatalf("protobuf schema: %v, %v", ps, err)
	}
	// A recursive message compiles but cannot be a table: its records are
	// unsupported, and that is found when the message is first used.
	rs, err := r.Get(context.Background(), 12)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, _, err := rs.Proto.Split([]byte{0}); !errors.Is(err, ErrUnsupportedSchema) {
			t.Fatalf("recursive message: %v, want ErrUnsupportedSchema", err)
		}
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("registry requests = %d, want 3 (one per id)", got)
	}
}
