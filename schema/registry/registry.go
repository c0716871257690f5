package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/sr"
	"golang.org/x/sync/singleflight"

	"github.com/bigfather/bigfather/internal/backoff"
	"github.com/bigfather/bigfather/internal/redact"
)

// ErrUnknownSchema means the registry answered that the schema id does not
// exist (error code 40403). It is permanent: records carrying that id can be
// rejected. Every other registry failure is reported as a different error so
// that the caller stalls instead of rejecting good data.
var ErrUnknownSchema = errors.New("schema: unknown schema id")

// Registry defaults, applied by NewRegistry to zero-valued options.
const (
	// DefaultMaxRetries is the number of retries after the first attempt
	// for transient failures (network errors, HTTP 5xx, 408, 429).
	DefaultMaxRetries = 5
	// DefaultRetryBackoff is the first retry delay; each retry doubles it,
	// up to maxRetryBackoff.
	DefaultRetryBackoff = 100 * time.Millisecond

	maxRetryBackoff = 10 * time.Second
	// maxReferenceDepth bounds schema-reference chains so that a cyclic
	// reference graph cannot recurse forever.
	maxReferenceDepth = 16
)

// RegistryOptions configures a Registry.
type RegistryOptions struct {
	// URL is the registry base URL; several URLs may be given separated by
	// commas, and sr tries them in order. Required.
	URL string
	// Username and Password enable HTTP basic auth when Username is set.
	Username, Password string
	// TLS is used for https URLs; nil uses the system defaults.
	TLS *tls.Config
	// Logger receives retry warnings; nil discards them.
	Logger *slog.Logger
	// MaxRetries is the number of retries for transient failures. Zero
	// means DefaultMaxRetries; a negative value disables retries.
	MaxRetries int
	// RetryBackoff is the first retry delay, doubled on every retry and
	// capped at 10s. Zero means DefaultRetryBackoff.
	RetryBackoff time.Duration
}

// WriterSchema is a registered Avro writer schema.
type WriterSchema struct {
	ID int
	// Avro is the parsed schema with its references resolved.
	Avro avro.Schema
	// Text is the schema text as the registry returned it.
	Text string
	// JSON, for a JSON Schema, converts the records' JSON documents to Avro
	// of the translated schema (JSONSchemaToAvro); nil for Avro schemas.
	JSON *JSONRecords
	// Proto, for a Protobuf schema, names each record's message by its
	// wire-format message indexes and converts it to Avro; nil otherwise.
	Proto *ProtoSchema
}

// Registry fetches Avro writer schemas by id and caches them forever:
// registry ids are immutable, so a cached schema never goes stale.
// It is safe for concurrent use.
type Registry struct {
	cl         *sr.Client
	scrub      *redact.Scrubber // hides the URLs' secrets in sr's errors
	log        *slog.Logger
	maxRetries int
	backoff    time.Duration

	mu    sync.RWMutex
	cache map[int]*WriterSchema
	// unsupported remembers schema ids that cannot be ingested, and why:
	// they are as immutable as the others.
	unsupported map[int]error
	// subjects caches the subjects each id is registered under (Subjects).
	subjects map[int][]string
	group    singleflight.Group
}

// NewRegistry builds a Registry client. It does not contact the registry.
func NewRegistry(opts RegistryOptions) (*Registry, error) {
	var urls []string
	for u := range strings.SplitSeq(opts.URL, ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return nil, errors.New("schema registry: no URL configured")
	}
	clOpts := []sr.ClientOpt{sr.URLs(urls...), sr.HTTPClient(&http.Client{Timeout: 10 * time.Second})}
	if opts.Username != "" {
		clOpts = append(clOpts, sr.BasicAuth(opts.Username, opts.Password))
	}
	if opts.TLS != nil {
		clOpts = append(clOpts, sr.DialTLSConfig(opts.TLS))
	}
	// sr puts the request URL, user info and query included, into its
	// errors, which are logged on every retry.
	secrets := []string{opts.Password}
	for _, u := range urls {
		secrets = append(secrets, redact.URLSecrets(u)...)
	}
	scrub := redact.NewScrubber(secrets...)
	cl, err := sr.NewClient(clOpts...)
	if err != nil {
		return nil, fmt.Errorf("schema registry client: %w", scrub.Error(err))
	}
	r := &Registry{
		cl:          cl,
		scrub:       scrub,
		log:         opts.Logger,
		maxRetries:  opts.MaxRetries,
		backoff:     opts.RetryBackoff,
		cache:       make(map[int]*WriterSchema),
		unsupported: make(map[int]error),
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	switch {
	case r.maxRetries == 0:
		r.maxRetries = DefaultMaxRetries
	case r.maxRetries < 0:
		r.maxRetries = 0
	}
	if r.backoff <= 0 {
		r.backoff = DefaultRetryBackoff
	}
	return r, nil
}

// errFetchAbandoned marks a shared fetch that stopped because the context of
// the caller that started it ended; waiters with a live context start over.
var errFetchAbandoned = errors.New("schema registry: shared fetch abandoned")

// Get returns the writer schema for id, fetching it on a cache miss.
// Concurrent misses for one id share a single fetch. It returns an error
// wrapping ErrUnknownSchema only when the registry says the id does not
// exist; transient failures are retried with exponential backoff and then
// returned as a different error.
func (r *Registry) Get(ctx context.Context, id int) (*WriterSchema, error) {
	r.mu.RLock()
	ws, ok := r.cache[id]
	bad := r.unsupported[id]
	r.mu.RUnlock()
	if ok {
		return ws, nil
	}
	if bad != nil {
		return nil, bad
	}
	key := strconv.Itoa(id)
	for {
		ch := r.group.DoChan(key, func() (any, error) { return r.fetch(ctx, id) })
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("schema %d: %w", id, ctx.Err())
		case res := <-ch:
			if res.Err == nil {
				return res.Val.(*WriterSchema), nil
			}
			if errors.Is(res.Err, errFetchAbandoned) && ctx.Err() == nil {
				continue // another caller's context ended its fetch; ours is alive
			}
			return nil, res.Err
		}
	}
}

// fetch loads, parses and caches one schema.
func (r *Registry) fetch(ctx context.Context, id int) (*WriterSchema, error) {
	r.mu.RLock()
	ws, ok := r.cache[id]
	r.mu.RUnlock()
	if ok {
		return ws, nil
	}
	var s sr.Schema
	err := r.retry(ctx, "schema_id", id, func() error {
		var err error
		s, err = r.cl.SchemaByID(ctx, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("schema %d: %w", id, err)
	}
	switch s.Type {
	case sr.TypeAvro:
	case sr.TypeJSON:
		return r.remember(id, func() (*WriterSchema, error) {
			if len(s.References) > 0 {
				return nil, fmt.Errorf("%w: json schema references are not supported", ErrUnsupportedSchema)
			}
			as, err := JSONSchemaToAvro(s.Schema)
			if err != nil {
				return nil, err
			}
			return &WriterSchema{ID: id, Avro: as, Text: s.Schema, JSON: &JSONRecords{schema: as}}, nil
		})
	case sr.TypeProtobuf:
		return r.remember(id, func() (*WriterSchema, error) {
			if len(s.References) > 0 {
				return nil, fmt.Errorf("%w: protobuf schema references (imports of other subjects) are not supported", ErrUnsupportedSchema)
			}
			ps, err := CompileProto(id, s.Schema)
			if err != nil {
				return nil, err
			}
			return &WriterSchema{ID: id, Text: s.Schema, Proto: ps}, nil
		})
	default:
		return r.remember(id, func() (*WriterSchema, error) {
			return nil, fmt.Errorf("%w: type %s is not supported", ErrUnsupportedSchema, s.Type)
		})
	}
	// A fresh cache per id: two ids may define the same full name
	// differently (that is what evolution is), so names must not leak
	// between schemas.
	cache := &avro.SchemaCache{}
	if err := r.parseReferences(ctx, s.References, cache, 0); err != nil {
		return nil, fmt.Errorf("schema %d: %w", id, err)
	}
	parsed, err := avro.ParseWithCache(s.Schema, "", cache)
	if err != nil {
		return nil, fmt.Errorf("schema %d: parse: %w", id, err)
	}
	ws = &WriterSchema{ID: id, Avro: parsed, Text: s.Schema}
	r.mu.Lock()
	r.cache[id] = ws
	r.mu.Unlock()
	return ws, nil
}

// remember builds the writer schema of a non-Avro schema and caches the
// outcome, an unsupported schema included, so no record asks twice.
func (r *Registry) remember(id int, build func() (*WriterSchema, error)) (*WriterSchema, error) {
	ws, err := build()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("schema %d: %w", id, err)
		r.unsupported[id] = err
		return nil, err
	}
	r.cache[id] = ws
	return ws, nil
}

// parseReferences parses referenced schemas, depth first, into cache so the
// referring schema can use their names.
func (r *Registry) parseReferences(ctx context.Context, refs []sr.SchemaReference, cache *avro.SchemaCache, depth int) error {
	if len(refs) == 0 {
		return nil
	}
	if depth >= maxReferenceDepth {
		return fmt.Errorf("schema references nested deeper than %d", maxReferenceDepth)
	}
	for _, ref := range refs {
		var ss sr.SubjectSchema
		err := r.retry(ctx, "subject", ref.Subject, func() error {
			var err error
			ss, err = r.cl.SchemaByVersion(ctx, ref.Subject, ref.Version)
			return err
		})
		if err != nil {
			return fmt.Errorf("reference %q (%s v%d): %w", ref.Name, ref.Subject, ref.Version, err)
		}
		if err := r.parseReferences(ctx, ss.References, cache, depth+1); err != nil {
			return err
		}
		if _, err := avro.ParseWithCache(ss.Schema.Schema, "", cache); err != nil {
			return fmt.Errorf("reference %q (%s v%d): parse: %w", ref.Name, ref.Subject, ref.Version, err)
		}
	}
	return nil
}

// retry runs op until it succeeds, fails permanently, or runs out of
// retries. logKey/logVal identify the request in retry log lines.
func (r *Registry) retry(ctx context.Context, logKey string, logVal any, op func() error) error {
	delay := backoff.New(r.backoff, maxRetryBackoff)
	for attempt := 0; ; attempt++ {
		err := r.scrub.Error(op())
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", errFetchAbandoned, ctx.Err())
		}
		var re *sr.ResponseError
		if errors.As(err, &re) && re.ErrorCode == sr.ErrSchemaNotFound.Code {
			return fmt.Errorf("%w: %w", ErrUnknownSchema, err)
		}
		if !transient(err) {
			return err
		}
		if attempt >= r.maxRetries {
			return fmt.Errorf("registry unavailable after %d attempts: %w", attempt+1, err)
		}
		// DEBUG: an outage is the caller's to report once, rate-limited (the
		// ingester's registry problem); a WARN per attempt flooded the log.
		wait := delay.Next()
		r.log.Debug("schema registry request failed, retrying", logKey, logVal, "attempt", attempt+1, "backoff", wait, "err", err)
		if err := backoff.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w: %w", errFetchAbandoned, err)
		}
	}
}

// transient reports whether a registry error may go away on its own: any
// failure without an HTTP response, server errors, timeouts and throttling.
// Other 4xx answers (auth, bad request) are configuration problems that a
// retry will not fix.
func transient(err error) bool {
	var re *sr.ResponseError
	if !errors.As(err, &re) {
		return true
	}
	return re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusRequestTimeout
}
