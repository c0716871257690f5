package ingest_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/schema/registry"
)

// A registry outage is one rate-limited WARN, not also a WARN for every
// retry of every request: the registry client's retries (six a stall, a
// stall every ~10 s) made some 20 lines a minute for as long as it lasted.
func TestRegistryOutageWarnsOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	e.produce(50, 1)
	var outage atomic.Bool
	outage.Store(true)
	e.cluster.Registry().Intercept(func(w http.ResponseWriter, r *http.Request) bool {
		if !outage.Load() || !strings.HasPrefix(r.URL.Path, "/schemas/ids/") {
			return false
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		return true
	})
	logs := &logCount{}
	log := slog.New(logs.wrap(e.log.Handler()))
	reg, err := registry.NewRegistry(registry.RegistryOptions{URL: e.cluster.RegistryURL(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	prom := prometheus.NewRegistry()
	opts := e.options()
	opts.Registry, opts.Logger, opts.Registerer = reg, log, prom
	r := e.start(opts)
	waitProblem(t, r, prom, ingest.ProblemRegistry, "schema registry unavailable", 30*time.Second)
	eventually.Within(t, 30*time.Second, func() error {
		if n := counterValue(t, prom, "bigfather_ingest_registry_stalls_total", nil); n < 2 {
			return fmt.Errorf("the pipeline waited on the registry %v times, want 2", n)
		}
		return nil
	})
	if n := logs.warnings(); n != 1 {
		t.Fatalf("%d WARN lines for a registry outage over 2 stalls, want 1: %v", n, logs.messages())
	}
	outage.Store(false)
	e.waitWatermarks(50)
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
}
