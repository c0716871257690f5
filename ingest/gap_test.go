package ingest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/table"
)

// holdFetches makes the broker answer every fetch empty while held, so
// that records produced meanwhile are not fetched; it returns a release.
// It waits until a fetch was held, so one already waiting in the broker
// (long poll) has been answered and the consumer's position is fixed.
func (e *testEnv) holdFetches() (release func()) {
	e.t.Helper()
	var held atomic.Bool
	var seen atomic.Int32
	held.Store(true)
	k := e.cluster.Kafka()
	k.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		k.KeepControl()
		if !held.Load() {
			return nil, nil, false
		}
		seen.Add(1)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.Version = req.GetVersion()
		resp.ThrottleMillis = 50
		return resp, nil, true
	})
	eventually.Within(e.t, 20*time.Second, func() error {
		if n := seen.Load(); n < 2 {
			return fmt.Errorf("%d fetches reached the broker while held, want 2", n)
		}
		return nil
	})
	return func() { held.Store(false) }
}

// Retention deletes records the running pipeline has not fetched yet:
// it is handled as at assignment, with the offsets deleted named and the
// on_gap policy applied while running, not only after a restart.
func TestRetentionWhileRunning(t *testing.T) {
	t.Parallel()
	lost := table.TP{Topic: testTopic, Partition: 1}
	setup := func(t *testing.T, onGap string, logs *logCount) (*testEnv, *running, table.Offsets, int64) {
		e := newTestEnv(t, 2)
		e.produce(400, 1)
		opts := e.options()
		opts.OnGap = onGap
		if logs != nil {
			opts.Logger = slog.New(logs.wrap(opts.Logger.Handler()))
		}
		opts.KafkaOpts = append(opts.KafkaOpts, kgo.FetchMaxWait(200*time.Millisecond))
		r := e.start(opts)
		e.waitWatermarks(400)
		wm := e.watermarks()
		release := e.holdFetches()
		e.produce(400, 2)
		start := wm[lost] + 5
		if err := e.cluster.Kafka().DeleteRecords(testTopic, lost.Partition, start); err != nil {
			t.Fatal(err)
		}
		release()
		return e, r, wm, start
	}
	t.Run("halt", func(t *testing.T) {
		logs := &logCount{}
		e, r, wm, start := setup(t, ingest.OnGapHalt, logs)
		h := waitHalted(t, r.p, 1, 30*time.Second)
		if !errors.Is(h[lost], ingest.ErrDataLoss) {
			t.Fatalf("halt reason %v, want ErrDataLoss", h[lost])
		}
		for _, want := range []string{fmt.Sprintf("records %d..%d were deleted", wm[lost], start-1),
			fmt.Sprintf("music.tracks at %d", wm[lost])} {
			if !strings.Contains(h[lost].Error(), want) {
				t.Fatalf("halt reason %q does not say %q", h[lost], want)
			}
		}
		var named bool
		for _, pr := range r.p.Problems() {
			named = named || pr.Kind == ingest.ProblemHalted && pr.Reason == h[lost].Error()
		}
		if !named {
			t.Fatalf("problems %v do not name the halt", r.p.Problems())
		}
		other := table.TP{Topic: testTopic, Partition: 0}
		eventually.Within(t, 30*time.Second, func() error {
			if got := e.watermarks()[other]; got <= wm[other] {
				return fmt.Errorf("healthy partition made no progress: watermark %d", got)
			}
			return nil
		})
		// Halted, the partition is paused: no fetch retries, no log flood.
		time.Sleep(time.Second)
		if n := logs.count("partition halted"); n != 1 {
			t.Fatalf("%d \"partition halted\" lines, want 1", n)
		}
		if n := logs.warnings(); n > 5 {
			t.Fatalf("%d WARN or ERROR lines after one halt: %v", n, logs.messages())
		}
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		if got := e.watermarks()[lost]; got != wm[lost] {
			t.Fatalf("halted partition's watermark moved from %d to %d", wm[lost], got)
		}
	})
	t.Run("skip", func(t *testing.T) {
		e, r, wm, start := setup(t, ingest.OnGapSkip, nil)
		e.waitWatermarks(800)
		noneHalted(t, r.p)
		if err := r.stop(); err != nil {
			t.Fatal(err)
		}
		tbl, err := e.cat.LoadTable(context.Background(), testTable)
		if err != nil {
			t.Fatal(err)
		}
		var gaps []string
		for _, s := range tbl.Metadata().Snapshots() {
			if g := s.Summary.Properties[table.SummaryGaps]; g != "" {
				gaps = append(gaps, g)
			}
		}
		want, _ := json.Marshal(table.Ranges{lost: {wm[lost], start}})
		if len(gaps) != 1 || gaps[0] != string(want) {
			t.Fatalf("gaps recorded %v, want one: %s", gaps, want)
		}
		// Kafka no longer delivers below the new log start; what it
		// delivered there before was offsets 0..wm-1 of the lost partition.
		kafka := ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(e.cluster.Brokers()...)})
		delivered := func(ctx context.Context, tp table.TP, from, to int64) ([]int64, error) {
			if tp != lost || from >= start {
				return kafka(ctx, tp, from, to)
			}
			var out []int64
			for o := from; o < min(to, wm[lost]); o++ {
				out = append(out, o)
			}
			rest, err := kafka(ctx, tp, start, to)
			return append(out, rest...), err
		}
		rep, err := table.Verify(context.Background(), tbl, testPipeline, delivered)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK() {
			t.Fatalf("verify: %v", rep.Violations)
		}
		if got := rowsIn(rep); got != 800-(start-wm[lost]) {
			t.Fatalf("rows %d, want %d", got, 800-(start-wm[lost]))
		}
	})
}

// logCount counts the log records a handler passes on, by message.
type logCount struct {
	mu   sync.Mutex
	msgs map[string]int
	warn int
}

func (l *logCount) wrap(h slog.Handler) slog.Handler { return &countingHandler{Handler: h, l: l} }

func (l *logCount) count(msg string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msgs[msg]
}

func (l *logCount) warnings() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.warn
}

func (l *logCount) messages() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.msgs)
}

type countingHandler struct {
	slog.Handler
	l *logCount
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.l.mu.Lock()
	if h.l.msgs == nil {
		h.l.msgs = map[string]int{}
	}
	h.l.msgs[r.Message]++
	if r.Level >= slog.LevelWarn {
		h.l.warn++
	}
	h.l.mu.Unlock()
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{Handler: h.Handler.WithAttrs(as), l: h.l}
}

func (h *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{Handler: h.Handler.WithGroup(name), l: h.l}
}
