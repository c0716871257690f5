package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apache/iceberg-go/catalog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/objstore"
	"github.com/bigfather/bigfather/table"
)

// kafkaEnv is the broker and registry a run uses.
type kafkaEnv struct {
	brokers     []string
	registryURL string
	// adm creates the topics of later phases (createTopic). On an external
	// cluster every topic it created is deleted by close.
	adm *kadm.Client
	// external is set for a cluster the harness did not start, whose
	// topics outlive the run unless deleted.
	external bool
	created  []string
	// child is the broker's process with KafkaSpawn.
	child   *kafkaChild
	closers []func() // run in reverse by close
}

func startKafka(ctx context.Context, cfg *Config, topic string) (*kafkaEnv, error) {
	env := &kafkaEnv{}
	seeded := false // the broker was started with the topic
	switch cfg.Kafka {
	case KafkaInProcess:
		c, err := devkafka.Start(ctx, devkafka.Options{
			KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0",
			Topics: map[string]int32{topic: cfg.Partitions}, Logger: cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("start in-process kafka: %w", err)
		}
		env.brokers, env.registryURL = c.Brokers(), c.RegistryURL()
		env.closers = append(env.closers, func() { c.Close() })
		seeded = true
	case KafkaSpawn:
		child, err := spawnKafka(ctx, cfg.SpawnKafka, cfg.SpawnTimeout)
		if err != nil {
			return nil, err
		}
		env.child = child
		env.brokers, env.registryURL = child.brokers, child.registryURL
		env.closers = append(env.closers, func() {
			if err := child.stop(); err != nil {
				cfg.Logger.Error("stop spawned kafka", "err", err)
			}
		})
	default:
		env.external = true
		for b := range strings.SplitSeq(cfg.Kafka, ",") {
			if b = strings.TrimSpace(b); b != "" {
				env.brokers = append(env.brokers, b)
			}
		}
		if len(env.brokers) == 0 {
			return nil, fmt.Errorf("%w: kafka %q names no broker", ErrConfig, cfg.Kafka)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.brokers...))
	if err != nil {
		env.close(ctx, cfg)
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	env.adm = kadm.NewClient(cl)
	env.closers = append(env.closers, cl.Close)
	if !seeded {
		if err := env.createTopic(ctx, topic, cfg.Partitions); err != nil {
			env.close(ctx, cfg)
			return nil, err
		}
	}
	if cfg.Registry != "" {
		env.registryURL = cfg.Registry
	}
	if env.registryURL == "" {
		reg := srfake.New()
		env.registryURL = reg.URL()
		env.closers = append(env.closers, reg.Close)
	}
	return env, nil
}

// createTopic creates a topic for a later phase of the run.
func (k *kafkaEnv) createTopic(ctx context.Context, topic string, partitions int32) error {
	if _, err := k.adm.CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	k.created = append(k.created, topic)
	return nil
}

// close deletes the topics created on an external cluster, then closes the
// clients and stops the broker and registry the harness started (the
// spawned broker's topics go with its memory).
func (k *kafkaEnv) close(ctx context.Context, cfg *Config) {
	if k.external && len(k.created) > 0 {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		resp, err := k.adm.DeleteTopics(dctx, k.created...)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			cfg.Logger.Warn("delete bench topics", "topic", strings.Join(k.created, ","), "err", err)
		}
		cancel()
	}
	for i := len(k.closers) - 1; i >= 0; i-- {
		k.closers[i]()
	}
}

// warehouse is the object store and SQLite catalog of a run.
type warehouse struct {
	url    string
	bucket objstore.Bucket
	cat    catalog.Catalog
	close  func()
}

func openWarehouse(ctx context.Context, cfg *Config) (*warehouse, error) {
	var cleanup []func()
	closeAll := func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}
	tempDir := func() (string, error) {
		dir, err := os.MkdirTemp("", "bigfather-bench-*")
		if err != nil {
			return "", err
		}
		cleanup = append(cleanup, func() { os.RemoveAll(dir) })
		return dir, nil
	}
	wh := &warehouse{close: closeAll}
	dsn := cfg.CatalogDSN
	switch w := cfg.Warehouse; {
	case w == "":
		dir, err := tempDir()
		if err != nil {
			return nil, err
		}
		wh.url = "file://" + dir
		if dsn == "" {
			dsn = filepath.Join(dir, "catalog.db")
		}
	case strings.HasPrefix(w, "s3://"):
		wh.url = strings.TrimRight(w, "/")
		if dsn == "" {
			dir, err := tempDir()
			if err != nil {
				return nil, err
			}
			dsn = filepath.Join(dir, "catalog.db")
		}
	default:
		abs, err := filepath.Abs(strings.TrimPrefix(w, "file://"))
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, err
		}
		wh.url = "file://" + abs
		if dsn == "" {
			dsn = filepath.Join(abs, "catalog.db")
		}
	}
	var err error
	if wh.bucket, err = objstore.Open(ctx, wh.url, cfg.S3); err != nil {
		closeAll()
		return nil, fmt.Errorf("warehouse: %w", err)
	}
	wh.cat, err = table.OpenCatalog(ctx, table.CatalogOptions{
		CatalogConfig: table.CatalogConfig{Type: table.CatalogSQL, SQL: table.SQLCatalogConfig{Driver: table.SQLDriverSQLite, DSN: dsn}},
		Warehouse:     wh.url,
		S3:            cfg.S3,
	})
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("catalog: %w", err)
	}
	if c, ok := wh.cat.(io.Closer); ok {
		cleanup = append(cleanup, func() { c.Close() })
	}
	return wh, nil
}

// KafkaProcess is the child process that ran the broker and registry
// (KafkaSpawn). Its CPU, allocations and RSS are in no Stage figure; its
// CPU is in every Stage's OtherCores.
type KafkaProcess struct {
	PID         int      `json:"pid"`
	Command     []string `json:"command"`
	Brokers     []string `json:"brokers"`
	RegistryURL string   `json:"registry_url"`
	// CPUSeconds (user + system) and PeakRSSBytes (VmHWM) cover the
	// child's whole life up to the end of the run, loading included. They
	// come from /proc: zero where it is unavailable.
	CPUSeconds   float64 `json:"cpu_seconds,omitempty"`
	PeakRSSBytes int64   `json:"peak_rss_bytes,omitempty"`
}

// describeChild describes the spawned broker for the report; nil when
// there is none.
func (k *kafkaEnv) describeChild() *KafkaProcess {
	c := k.child
	if c == nil {
		return nil
	}
	cpu, rss := procUsage(c.cmd.Process.Pid)
	return &KafkaProcess{
		PID: c.cmd.Process.Pid, Command: c.argv, Brokers: c.brokers, RegistryURL: c.registryURL,
		CPUSeconds: cpu.Seconds(), PeakRSSBytes: rss,
	}
}

// kafkaChild is a broker and registry in a child process (KafkaSpawn).
type kafkaChild struct {
	argv        []string
	cmd         *exec.Cmd
	stderr      *tailBuffer
	exited      chan struct{} // closed once waitErr is set
	waitErr     error
	stopTimeout time.Duration

	brokers     []string
	registryURL string
}

// spawnStopTimeout is how long a spawned broker has to exit after SIGTERM
// before it is killed.
const spawnStopTimeout = 10 * time.Second

// spawnKafka starts argv and waits, up to timeout, for the line that
// announces its addresses. On any failure the child is stopped and the
// error carries what it wrote on stderr.
func spawnKafka(ctx context.Context, argv []string, timeout time.Duration) (*kafkaChild, error) {
	c := &kafkaChild{
		argv: argv, stderr: &tailBuffer{max: 64 << 10}, exited: make(chan struct{}), stopTimeout: spawnStopTimeout,
	}
	line := &firstLine{ch: make(chan string, 1)}
	c.cmd = exec.Command(argv[0], argv[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = line, c.stderr
	// A process group of its own: a Ctrl-C at the terminal then reaches
	// the harness only, which stops the pipeline first and the broker
	// last, instead of the broker vanishing under a pipeline that is still
	// shutting down.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Wait returns this long after the child's exit even if something it
	// started still holds its stdout or stderr.
	c.cmd.WaitDelay = time.Second
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("spawn kafka %q: %w", argv[0], err)
	}
	go func() {
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()

	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var announced string
	select {
	case announced = <-line.ch:
	case <-c.exited:
		return nil, c.failure(fmt.Sprintf("exited before announcing its addresses (%v)", c.waitErr))
	case <-timer.C:
		_ = c.stop()
		return nil, c.failure(fmt.Sprintf("announced no addresses within %s", timeout))
	case <-ctx.Done():
		_ = c.stop()
		return nil, fmt.Errorf("spawn kafka: %w", ctx.Err())
	}
	var err error
	if c.brokers, c.registryURL, err = parseAnnouncement(announced); err != nil {
		_ = c.stop()
		return nil, c.failure(err.Error())
	}
	return c, nil
}

// parseAnnouncement parses "kafka=HOST:PORT[,HOST:PORT] registry=URL".
// Other key=value fields are ignored, so that the child may say more.
func parseAnnouncement(line string) (brokers []string, registryURL string, err error) {
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "kafka":
			for b := range strings.SplitSeq(v, ",") {
				if b != "" {
					brokers = append(brokers, b)
				}
			}
		case "registry":
			registryURL = v
		}
	}
	if len(brokers) == 0 || registryURL == "" {
		return nil, "", fmt.Errorf("announced %q, want kafka=HOST:PORT registry=URL", line)
	}
	return brokers, registryURL, nil
}

// stop sends SIGTERM and waits for the child, killing it after
// stopTimeout. It returns nil when the child exited cleanly on the signal,
// otherwise an error that carries its stderr (including when it had
// already exited on its own).
func (c *kafkaChild) stop() error {
	select {
	case <-c.exited:
		return c.failure(fmt.Sprintf("had exited before it was stopped (%v)", c.waitErr))
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = c.cmd.Process.Kill()
	}
	timer := time.NewTimer(c.stopTimeout)
	defer timer.Stop()
	select {
	case <-c.exited:
		if c.waitErr != nil {
			return c.failure(fmt.Sprintf("stopped with %v", c.waitErr))
		}
		return nil
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		return c.failure(fmt.Sprintf("did not exit within %s of SIGTERM and was killed", c.stopTimeout))
	}
}

func (c *kafkaChild) failure(what string) error {
	return fmt.Errorf("spawned kafka %q (pid %d) %s; its stderr:\n%s", strings.Join(c.argv, " "), c.cmd.Process.Pid, what, c.stderr)
}

// firstLine is the child's stdout: it hands the first line to ch and
// discards the rest.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	ch   chan string // buffered: one line
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent {
		return len(p), nil
	}
	f.buf = append(f.buf, p...)
	line, _, complete := bytes.Cut(f.buf, []byte("\n"))
	if complete || len(f.buf) > 4096 { // an overlong line is sent to fail parsing
		f.ch <- string(line)
		f.sent, f.buf = true, nil
	}
	return len(p), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu      sync.Mutex
	max     int
	b       []byte
	dropped int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.dropped += over
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dropped > 0 {
		return fmt.Sprintf("[%d earlier bytes dropped]\n%s", t.dropped, t.b)
	}
	return string(t.b)
}

// procUsage reads a process's CPU time (user + system) and RSS high-water
// mark from /proc (Linux); zeros where that fails.
func procUsage(pid int) (cpu time.Duration, peakRSS int64) {
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
		// Field 2, the command name, is parenthesised and may hold
		// spaces: count the fields from the last ')'. f[0] is field 3.
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 12 {
				utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
				stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
				if err1 == nil && err2 == nil {
					cpu = time.Duration(utime+stime) * (time.Second / 100) // USER_HZ, as systemBusy
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				if kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil {
					peakRSS = kb * 1024
				}
			}
		}
	}
	return cpu, peakRSS
}
