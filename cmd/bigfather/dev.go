package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/config"
	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/music"
)

const devTopic = "tracks"

// devConfig is the embedded default: the sample topic into music.tracks in
// a local warehouse with the SQLite catalog. It is written next to the
// warehouse so that verify and inspect can be pointed at it.
const devConfig = `# written by "bigfather dev"; usable with run, verify and inspect
pipeline: dev
kafka:
  brokers: ["%s"]
  start: earliest
schema_registry:
  url: %s
catalog:
  type: sql
  sql: {driver: sqlite, dsn: %q}
warehouse:
  url: %q
tables:
  - {topic: %s, table: music.tracks}
flush:
  max_latency: %s
metrics:
  addr: %q
`

func cmdDev(ctx context.Context, sig *stopSignals, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("dev", stdout)
	dir := fs.String("dir", "./warehouse", "warehouse `DIR` (the SQLite catalog and Kafka's data live there too)")
	kafkaAddr := fs.String("kafka", devkafka.DefaultKafkaAddr, "`ADDR` of the in-process Kafka broker")
	regAddr := fs.String("registry", devkafka.DefaultRegistryAddr, "`ADDR` of the in-process schema registry")
	rate := fs.Float64("rate", 200, "sample records produced per second (0 = as fast as possible)")
	total := fs.Int64("total", 0, "stop producing after this many records (0 = never)")
	partitions := fs.Int("partitions", 3, "partitions of the sample topic")
	flushEvery := fs.Duration("flush", 5*time.Second, "flush.max_latency of the ingest")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9464", "`ADDR` for /metrics, /healthz and /readyz (\"\" disables)")
	noIngest := fs.Bool("no-ingest", false, "run only Kafka, the registry and the producer (for an external bigfather run)")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cluster, err := devkafka.Start(ctx, devkafka.Options{
		KafkaAddr: *kafkaAddr, RegistryAddr: *regAddr,
		DataDir: filepath.Join(abs, ".kafka"),
		Topics:  map[string]int32{devTopic: int32(*partitions)},
		Logger:  log,
	})
	if err != nil {
		return fmt.Errorf("start kafka and registry: %w", err)
	}
	defer cluster.Close()

	producer, err := music.NewProducer(music.ProducerOptions{
		Brokers: cluster.Brokers(), RegistryURL: cluster.RegistryURL(), Topic: devTopic,
		Rate: *rate, Total: *total, Seed: time.Now().UnixNano(), Logger: log,
	})
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(abs, "bigfather-dev.yaml")
	cfgText := fmt.Sprintf(devConfig, cluster.Brokers()[0], cluster.RegistryURL(), filepath.Join(abs, "catalog.db"),
		"file://"+abs, devTopic, *flushEvery, *metricsAddr)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o644); err != nil {
		return err
	}
	cfg, err := config.Parse([]byte(cfgText))
	if err != nil {
		return fmt.Errorf("embedded dev config: %w", err)
	}
	sig.arm(log, cfg.ShutdownTimeout)

	broker := cluster.Brokers()[0]
	fmt.Fprintf(stdout, "Big Father dev\n")
	// The values are registry-framed Avro, which Debian's kcat cannot decode: show coordinates.
	fmt.Fprintf(stdout, "  kafka      %s  (try: kcat -b %s -t %s -C -o -5 -e -q -f '%%t/%%p@%%o key %%k: %%S bytes\\n')\n", broker, broker, devTopic)
	fmt.Fprintf(stdout, "  registry   %s\n", cluster.RegistryURL())
	fmt.Fprintf(stdout, "  warehouse  %s  (SQLite catalog %s)\n", abs, filepath.Join(abs, "catalog.db"))
	fmt.Fprintf(stdout, "  table      music.tracks, fed by topic %q at %g records/s\n", devTopic, *rate)
	fmt.Fprintf(stdout, "  config     %s\n", cfgPath)
	fmt.Fprintf(stdout, "query it:\n")
	fmt.Fprintf(stdout, "  bigfather inspect --config %s --table music.tracks --files   # snapshots, watermarks, data files\n", cfgPath)
	fmt.Fprintf(stdout, "  bigfather verify  --config %s --table music.tracks           # exactly-once check against Kafka\n", cfgPath)
	fmt.Fprintf(stdout, "  bigfather query   --config %s \"SELECT count(*) FROM music.tracks\"   # DuckDB (npm ci --prefix scripts)\n", cfgPath)
	fmt.Fprintf(stdout, "Ctrl-C stops cleanly; running dev again resumes where it stopped.\n")

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return producer.Run(gctx) })
	if *noIngest {
		g.Go(func() error { return statusLoop(gctx, stdout, producer, nil) })
		return g.Wait()
	}
	started := make(chan *ingest.Pipeline, 1)
	g.Go(func() error {
		plog := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		return runPipeline(gctx, cfg, plog, func(p *ingest.Pipeline) { started <- p })
	})
	g.Go(func() error {
		select {
		case p := <-started:
			return statusLoop(gctx, stdout, producer, p)
		case <-gctx.Done():
			return nil
		}
	})
	err = g.Wait()
	fmt.Fprintln(stdout)
	return err
}

// statusLoop prints a one-line status every two seconds.
func statusLoop(ctx context.Context, w io.Writer, prod *music.Producer, p *ingest.Pipeline) error {
	tty := isTerminal(w)
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	last, lastAt := int64(0), time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			line := fmt.Sprintf("produced %d", prod.Produced())
			if p != nil {
				st := p.Stats()
				rate := float64(st.Committed-last) / now.Sub(lastAt).Seconds()
				last, lastAt = st.Committed, now
				commit := "no commit yet"
				if !st.LastCommit.IsZero() {
					commit = fmt.Sprintf("last commit %s ago", now.Sub(st.LastCommit).Round(time.Second))
				}
				line = fmt.Sprintf("%.0f records/s committed | %d committed | lag %d | %s | %s", rate, st.Committed, st.Lag, commit, line)
				if st.Halted > 0 {
					line += fmt.Sprintf(" | %d partition(s) HALTED (see log)", st.Halted)
				}
				if ps := p.Problems(); len(ps) > 0 {
					line += " | PROBLEMS: " + ingest.ProblemsString(ps)
				}
			}
			if tty {
				fmt.Fprintf(w, "\r\033[K%s", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
