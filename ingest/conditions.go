package ingest

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/bigfather/bigfather/internal/backoff"
	"github.com/bigfather/bigfather/table"
)

// Problem kinds: what keeps the pipeline from ingesting while it waits
// for the outside world. Every one is waited out (docs/operations.md):
// none stops the process, since each can be fixed without a restart.
const (
	ProblemRegistry  = "registry"  // the schema registry fails
	ProblemBroker    = "broker"    // a broker cannot be reached, or does not answer
	ProblemAuth      = "auth"      // a broker refused the SASL login
	ProblemTopic     = "topic"     // a subscribed topic does not exist
	ProblemGroup     = "group"     // the consumer group cannot be joined or kept
	ProblemWarehouse = "warehouse" // data files cannot be written
	ProblemCatalog   = "catalog"   // commits fail
	ProblemDLQ       = "dlq"       // rejects cannot be produced to the DLQ topic
	ProblemFetch     = "fetch"     // a partition's fetch fails for another reason
	// ProblemHalted is a partition halted (data loss, offset gap): not
	// waited out, it needs an operator. Listed so /readyz names why.
	ProblemHalted = "halted"
)

// problemMessages are the stable log messages of the kinds; the reason
// key says what exactly is wrong.
var problemMessages = map[string]string{
	ProblemRegistry:  "schema registry unavailable, ingestion paused",
	ProblemBroker:    "kafka broker unreachable or not answering",
	ProblemAuth:      "kafka sasl login refused",
	ProblemTopic:     "topic does not exist",
	ProblemGroup:     "consumer group failing",
	ProblemWarehouse: "cannot write data files to the warehouse",
	ProblemCatalog:   "cannot commit to the catalog",
	ProblemDLQ:       "cannot produce rejects to the dlq topic",
	ProblemFetch:     "fetching a partition fails",
	ProblemHalted:    "partition halted",
}

// Problem is a condition keeping the pipeline from ingesting, with why.
type Problem struct {
	Kind   string
	Reason string
	Since  time.Time
}

// conditions are the problems currently seen, each logged when it
// appears, again at most every logEvery while it lasts, and when it
// clears; bigfather_ingest_problem{kind} counts them. A problem set with
// a ttl clears by itself when not set again within it: for a kind whose
// recovery no event announces (a broker that failed once and that the
// client no longer dials).
type conditions struct {
	mu       sync.Mutex
	byKey    map[string]*condition
	gauge    *prometheus.GaugeVec
	log      *slog.Logger
	logEvery time.Duration
}

type condition struct {
	Problem
	level  slog.Level
	last   time.Time // last set
	logged time.Time // last logged
	ttl    time.Duration
}

func newConditions(reg prometheus.Registerer, log *slog.Logger) *conditions {
	return &conditions{
		byKey: make(map[string]*condition),
		gauge: promauto.With(reg).NewGaugeVec(prometheus.GaugeOpts{
			Name: "bigfather_ingest_problem",
			Help: "Problems keeping the pipeline from ingesting, by kind (registry, broker, auth, topic, group, warehouse, catalog, dlq, fetch, halted); /readyz names them.",
		}, []string{"kind"}),
		log:      log,
		logEvery: 30 * time.Second,
	}
}

// set records the problem kind, under key (one per broker, topic...; ""
// for one of the kind), logging it at level when it is new or was last
// logged logEvery ago. A changed reason is not logged at once: error
// texts name a new data file, commit id or S3 request id on every
// failure, so that would log every retry; /readyz shows the newest
// reason, and the next repeat logs it.
func (c *conditions) set(kind, key string, level slog.Level, ttl time.Duration, reason string, attrs ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	k := kind + "\x00" + key
	cd := c.byKey[k]
	if cd == nil {
		cd = &condition{Problem: Problem{Kind: kind, Since: now}}
		c.byKey[k] = cd
		c.gauge.WithLabelValues(kind).Inc()
	}
	cd.Reason, cd.level, cd.last, cd.ttl = reason, level, now, ttl
	if now.Sub(cd.logged) >= c.logEvery {
		cd.logged = now
		c.log.Log(context.Background(), level, problemMessages[kind],
			append(attrs, "problem", kind, "reason", reason, "since", cd.Since.UTC().Format(time.RFC3339))...)
	}
}

// note records a problem without logging it: its caller already did.
func (c *conditions) note(kind, key, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := kind + "\x00" + key
	now := time.Now()
	cd := c.byKey[k]
	if cd == nil {
		cd = &condition{Problem: Problem{Kind: kind, Since: now}}
		c.byKey[k] = cd
		c.gauge.WithLabelValues(kind).Inc()
	}
	cd.Reason, cd.last, cd.logged, cd.ttl = reason, now, now, 0
}

// clear ends the problem kind under key, logging the recovery.
func (c *conditions) clear(kind, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked(kind + "\x00" + key)
}

// clearKind ends every problem of kind.
func (c *conditions) clearKind(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, cd := range c.byKey {
		if cd.Kind == kind {
			c.clearLocked(k)
		}
	}
}

func (c *conditions) clearLocked(k string) {
	cd := c.byKey[k]
	if cd == nil {
		return
	}
	delete(c.byKey, k)
	c.gauge.WithLabelValues(cd.Kind).Dec()
	c.log.Info("problem cleared", "problem", cd.Kind, "was", cd.Reason, "lasted", time.Since(cd.Since).Round(time.Millisecond).String())
}

// sweep clears the problems whose ttl passed without a new set.
func (c *conditions) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k, cd := range c.byKey {
		if cd.ttl > 0 && now.Sub(cd.last) > cd.ttl {
			c.clearLocked(k)
		}
	}
}

// has reports whether a problem of kind is set.
func (c *conditions) has(kind string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cd := range c.byKey {
		if cd.Kind == kind {
			return true
		}
	}
	return false
}

// list returns the problems set, by kind then reason.
func (c *conditions) list() []Problem {
	c.sweep()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Problem, 0, len(c.byKey))
	for _, k := range slices.Sorted(maps.Keys(c.byKey)) {
		out = append(out, c.byKey[k].Problem)
	}
	return out
}

// Problems returns what keeps the pipeline from ingesting now, for
// /readyz and status lines; empty when nothing does.
func (p *Pipeline) Problems() []Problem { return p.cond.list() }

// ProblemsString is Problems as one line: "kind: reason; kind: reason".
func ProblemsString(ps []Problem) string {
	parts := make([]string, len(ps))
	for i, pr := range ps {
		parts[i] = pr.Kind + ": " + pr.Reason
	}
	return strings.Join(parts, "; ")
}

// flushProblem records why a flush failed as a problem of kind (a fenced
// batch is no problem: fencing is normal in a group), or, with a nil
// error, that a flush succeeded: writing, the DLQ and committing work.
func (p *Pipeline) flushProblem(kind string, err error) {
	if err == nil {
		for _, k := range []string{ProblemWarehouse, ProblemDLQ, ProblemCatalog} {
			p.cond.clear(k, "")
		}
		p.dropBackoff.Reset()
		return
	}
	if errors.Is(err, table.ErrFenced) {
		return
	}
	p.cond.set(kind, "", slog.LevelError, 0, problemMessages[kind]+"; batches are dropped and re-read: "+err.Error())
}

// backOffAfterDrop waits, outside the pipeline's lock, before fetching
// again after a flush failed for a warehouse, catalog or DLQ problem:
// 250ms, doubling to 10s while the failures go on.
func (p *Pipeline) backOffAfterDrop(ctx context.Context) {
	if !p.cond.has(ProblemWarehouse) && !p.cond.has(ProblemCatalog) && !p.cond.has(ProblemDLQ) {
		return
	}
	p.mu.Lock()
	wait := p.dropBackoff.Next()
	p.mu.Unlock()
	backoff.Sleep(ctx, wait) //nolint:errcheck // a stop ends the wait; the poll loop sees ctx itself
}
