package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/config"
	"github.com/bigfather/bigfather/internal/memlimit"
	"github.com/bigfather/bigfather/internal/redact"
)

// configFlags are the flags every config-driven command shares.
type configFlags struct {
	path string
	sets setFlags
}

func (c *configFlags) register(fs *cmdFlags) {
	fs.StringVar(&c.path, "config", "", "read the config from `FILE` (YAML); required")
	fs.Var(&c.sets, "set", "`key.path=value` overrides one config key, e.g. --set kafka.brokers=a:9092 (repeatable; flags override the file)")
}

func (c *configFlags) load() (*config.Config, error) {
	if c.path == "" {
		return nil, fmt.Errorf("%w: --config is required", errUsage)
	}
	return config.Load(c.path, c.sets...)
}

func cmdRun(ctx context.Context, sig *stopSignals, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlags("run", stdout)
	var cf configFlags
	cf.register(fs)
	if _, err := fs.parse(args); err != nil {
		return err
	}
	cfg, err := cf.load()
	if err != nil {
		return err
	}
	// Errors may embed a URL or DSN with its password (a driver's parse
	// error, a client's request error).
	scrub := redact.NewScrubber(cfg.Secrets()...)
	defer func() { err = scrub.Error(err) }()
	log := newLogger(cfg.Log, os.Stderr, scrub)
	sig.arm(log, cfg.ShutdownTimeout)
	log.Info("starting", "pipeline", cfg.Pipeline, "config", cf.path)
	return runPipeline(ctx, cfg, log, nil)
}

// runPipeline runs the ingest pipeline of cfg and its HTTP endpoints until
// ctx is done. onStart, if set, receives the pipeline once it is built.
func runPipeline(ctx context.Context, cfg *config.Config, log *slog.Logger, onStart func(*ingest.Pipeline)) error {
	e, err := newEnv(ctx, cfg, log)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts, lookups, err := e.pipelineOptions(ctx, reg)
	if err != nil {
		return err
	}
	p, err := ingest.New(opts)
	if err != nil {
		return err
	}
	limit := int64(cfg.MemoryLimit)
	if limit == 0 {
		limit = ingest.SoftMemoryLimit(int64(cfg.MemoryBudget))
	}
	limit, restoreLimit := memlimit.Apply(limit)
	defer restoreLimit()
	gcPercent, restoreGC := memlimit.ApplyGC(cfg.GCPercent)
	defer restoreGC()
	log.Info("memory", "budget", cfg.MemoryBudget, "go_memory_limit", config.ByteSize(limit), "gogc", gcPercent)
	if onStart != nil {
		onStart(p)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return p.Run(gctx) })
	for _, l := range lookups {
		g.Go(func() error { return l.Run(gctx) })
	}
	if cfg.Metrics.Addr != "" {
		srv, ln, err := listenHTTP(cfg.Metrics.Addr, reg, p)
		if err != nil {
			return err
		}
		log.Info("serving metrics", "addr", ln.Addr().String())
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("metrics server: %w", err)
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	err = g.Wait()
	log.Info("stopped", "pipeline", cfg.Pipeline, "err", err)
	return err
}

// listenHTTP serves /metrics, /healthz (the process is up) and /readyz (the
// pipeline owns its assignment, nothing is halted and no problem keeps it
// from ingesting).
func listenHTTP(addr string, reg *prometheus.Registry, p *ingest.Pipeline) (*http.Server, net.Listener, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", readyz(p))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics.addr %s: %w", addr, err)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln, nil
}

// readiness is what /readyz asks of the pipeline.
type readiness interface {
	Ready() bool
	Stats() ingest.Stats
	Problems() []ingest.Problem
}

// readyz answers 200 "ready", or 503 with every reason it is not: the
// problems the pipeline waits out (registry, brokers, topics, warehouse,
// catalog), halted partitions, no assignment yet.
func readyz(p readiness) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		var why []string
		haltsNamed := false
		for _, pr := range p.Problems() {
			why = append(why, fmt.Sprintf("%s: %s (since %s)", pr.Kind, pr.Reason, pr.Since.UTC().Format(time.RFC3339)))
			haltsNamed = haltsNamed || pr.Kind == ingest.ProblemHalted
		}
		if n := p.Stats().Halted; n > 0 && !haltsNamed {
			why = append(why, fmt.Sprintf("halted: %d partition(s) halted (see the \"partition halted\" log lines)", n))
		}
		if !p.Ready() {
			why = append(why, "assignment: waiting for a group assignment")
		}
		if len(why) == 0 {
			fmt.Fprintln(w, "ready")
			return
		}
		http.Error(w, "not ready:\n"+strings.Join(why, "\n"), http.StatusServiceUnavailable)
	}
}
