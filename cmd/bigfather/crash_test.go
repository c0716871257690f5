package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/music"
	"github.com/bigfather/bigfather/table"
)

// TestMain removes the binary buildBinary compiled (over 100 MB), which
// outlives any one test and so cannot live in a t.TempDir.
func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		if err := os.RemoveAll(binDir); err != nil {
			fmt.Fprintln(os.Stderr, "remove test binary:", err)
		}
	}
	os.Exit(code)
}

// buildBinary compiles this command once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bigfather-bin-")
		if err != nil {
			binErr = err
			return
		}
		binDir = dir
		binPath = filepath.Join(dir, "bigfather")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", binPath, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// crashEnv is Kafka and a registry in the test process, and a config for
// a child bigfather that ingests into a local warehouse.
type crashEnv struct {
	cluster *devkafka.Cluster
	dir     string
	cfgPath string
}

// crashRejects is how many undecodable records newCrashEnv puts between
// the good ones: they go to the quarantine table, which commits before the
// data table, so the crash points fall between the two commits too.
const crashRejects = 30

func newCrashEnv(t *testing.T, records int64) *crashEnv {
	t.Helper()
	ctx := context.Background()
	cluster, err := devkafka.Start(ctx, devkafka.Options{
		KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", Topics: map[string]int32{"tracks": 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	produce := func(n, seed int64) {
		p, err := music.NewProducer(music.ProducerOptions{
			Brokers: cluster.Brokers(), RegistryURL: cluster.RegistryURL(), Topic: "tracks", Total: n, Seed: seed,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	produce(records/2, 7)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.Brokers()...), kgo.DefaultProduceTopic("tracks"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	for i := range crashRejects {
		r := &kgo.Record{Partition: int32(i % 3), Value: []byte{0xba, 0xd0, byte(i)}}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	produce(records-records/2, 8)
	dir := t.TempDir()
	// The restarted child's join waits for the SIGKILLed one's session to
	// run out: kfake's minimum (6 s) instead of the 45 s default.
	cfg := fmt.Sprintf(`pipeline: crash
kafka: {brokers: [%q], session_timeout: 6s, rebalance_timeout: 10s}
schema_registry: {url: %q}
catalog: {type: sql, sql: {driver: sqlite, dsn: %q}}
warehouse: {url: %q}
tables: [{topic: tracks, table: music.tracks}]
flush: {max_latency: 500ms, max_records: 700}
metrics: {addr: ""}
shutdown_timeout: 10s
log: {level: info}
`, cluster.Brokers()[0], cluster.RegistryURL(), filepath.Join(dir, "catalog.db"), "file://"+filepath.Join(dir, "wh"))
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return &crashEnv{cluster: cluster, dir: dir, cfgPath: cfgPath}
}

func (c *crashEnv) child(t *testing.T, bin string, crashAt string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", c.cfgPath)
	cmd.Env = append(os.Environ(), "BIGFATHER_CRASH_AT="+crashAt)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, &log
}

func (c *crashEnv) load(t *testing.T) *icebergtable.Table {
	return c.loadID(t, icebergtable.Identifier{"music", "tracks"})
}

func (c *crashEnv) loadID(t *testing.T, id icebergtable.Identifier) *icebergtable.Table {
	t.Helper()
	cat, err := table.OpenCatalog(context.Background(), table.CatalogOptions{
		CatalogConfig: table.CatalogConfig{Type: "sql", SQL: table.SQLCatalogConfig{Driver: "sqlite", DSN: filepath.Join(c.dir, "catalog.db")}},
		Warehouse:     "file://" + filepath.Join(c.dir, "wh"),
	})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := cat.LoadTable(context.Background(), id)
	if err != nil {
		return nil
	}
	return tbl
}

func (c *crashEnv) committed(t *testing.T) int64 {
	tbl := c.load(t)
	if tbl == nil {
		return 0
	}
	wm, err := table.Watermarks(tbl.Metadata(), "crash")
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, w := range wm {
		sum += w
	}
	return sum
}

// Scenario b: SIGKILL a real child process at each named point, restart
// it, and check EO against Kafka.
func TestCrashAtNamedPoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	t.Parallel()
	bin := buildBinary(t)
	const records = 4000
	// The second hit of each point, so that commits exist before the crash.
	for _, point := range []string{"mid-upload:2", "after-upload:2", "before-commit:2", "after-commit:2"} {
		t.Run(point, func(t *testing.T) {
			t.Parallel() // each point has its own Kafka, warehouse and child
			env := newCrashEnv(t, records)
			cmd, log := env.child(t, bin, point)
			err := waitExit(cmd, 60*time.Second)
			var ee *exec.ExitError
			if !errors.As(err, &ee) {
				t.Fatalf("child did not die at %s: %v\n%s", point, err, log)
			}
			ws, ok := ee.Sys().(syscall.WaitStatus)
			if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, want SIGKILL at %s\n%s", err, point, log)
			}
			const offsets = records + crashRejects
			before := env.committed(t)
			if before >= offsets {
				t.Fatalf("everything was committed before the crash point; the crash tested nothing")
			}

			cmd, log = env.child(t, bin, "")
			eventually.Within(t, 90*time.Second, func() error {
				if got := env.committed(t); got < offsets {
					return fmt.Errorf("restart committed %d of %d\n%s", got, offsets, log)
				}
				return nil
			})
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if err := waitExit(cmd, 30*time.Second); err != nil {
				t.Fatalf("graceful stop: %v\n%s", err, log)
			}
			rejects := env.loadID(t, icebergtable.Identifier{"music", "tracks__rejects"})
			if rejects == nil {
				t.Fatal("no quarantine table music.tracks__rejects")
			}
			rep, err := table.VerifyRoute(context.Background(), env.load(t), rejects, "crash",
				ingest.Delivered([]kgo.Opt{kgo.SeedBrokers(env.cluster.Brokers()...)}), table.FromLogStart())
			if err != nil {
				t.Fatal(err)
			}
			if !rep.OK() {
				t.Fatalf("after crash at %s: %v", point, rep.Violations)
			}
			var rows, rejected int64
			for _, p := range rep.Partitions {
				rows += p.Rows
				rejected += p.Rejects
				if p.CheckedTo != p.Watermark {
					t.Errorf("%s/%d: checked to %d, watermark %d: a graceful stop leaves both tables level", p.Topic, p.Partition, p.CheckedTo, p.Watermark)
				}
			}
			if rows != records || rejected != crashRejects {
				t.Fatalf("rows %d rejects %d, want %d and %d", rows, rejected, records, crashRejects)
			}
		})
	}
}

func waitExit(cmd *exec.Cmd, within time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %s", within)
	}
}

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)
