package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/devkafka"
)

// childArg makes the test binary act as the spawned broker (testChild)
// instead of running tests.
const childArg = "bench-test-kafka"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == childArg {
		os.Exit(testChild(os.Args[2], os.Args[3:]))
	}
	os.Exit(m.Run())
}

// testChild is a stand-in for `bigfather dev-kafka` (package main, which
// this package cannot import), and for the ways such a command can fail.
func testChild(mode string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	switch mode {
	case "serve": // the real thing; args[0], if given, is a file to write the pid to
		if len(args) > 0 {
			if err := os.WriteFile(args[0], []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		c, err := devkafka.Start(ctx, devkafka.Options{KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0"})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Printf("kafka=%s registry=%s\n", strings.Join(c.Brokers(), ","), c.RegistryURL())
		<-ctx.Done()
		if err := c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "fail":
		fmt.Fprintln(os.Stderr, "no broker today: port in use")
		return 3
	case "silent":
		fmt.Fprintln(os.Stderr, "warming up slowly")
		<-ctx.Done()
		return 0
	case "garbage":
		fmt.Println("hello, world")
		<-ctx.Done()
		return 0
	case "quit": // announces, then exits on its own
		fmt.Println("kafka=127.0.0.1:1 registry=http://127.0.0.1:1")
		fmt.Fprintln(os.Stderr, "bye")
		return 0
	case "stubborn": // announces, then ignores SIGTERM
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("kafka=127.0.0.1:1 registry=http://127.0.0.1:1")
		fmt.Fprintln(os.Stderr, "not stopping")
		time.Sleep(time.Hour)
		return 0
	case "unclean": // announces, then exits 4 on SIGTERM
		fmt.Println("kafka=127.0.0.1:1 registry=http://127.0.0.1:1")
		<-ctx.Done()
		fmt.Fprintln(os.Stderr, "lost the log")
		return 4
	}
	fmt.Fprintf(os.Stderr, "unknown mode %q\n", mode)
	return 2
}

func childCommand(mode string, args ...string) []string {
	return append([]string{os.Args[0], childArg, mode}, args...)
}

// TestSpawnKafka pins how the harness starts and stops a broker in a
// child process, and that every failure names the child and shows its
// stderr, instead of a bare timeout or a Kafka dial error later on.
func TestSpawnKafka(t *testing.T) {
	cases := []struct {
		mode string
		// startErr is a substring of spawnKafka's error; "" for success.
		startErr string
		// stopErr is a substring of stop's error; "" for a clean stop.
		stopErr string
		// timeout is spawnKafka's, stopTimeout stop's; default 30s.
		timeout, stopTimeout time.Duration
	}{
		{mode: "serve"},
		{mode: "fail", startErr: "exited before announcing its addresses (exit status 3); its stderr:\nno broker today"},
		// Generous: the child must have started and written its stderr
		// first, which takes ~1 s for a test binary built with -race.
		{mode: "silent", timeout: 5 * time.Second, startErr: "announced no addresses within 5s; its stderr:\nwarming up slowly"},
		{mode: "garbage", startErr: `announced "hello, world", want kafka=HOST:PORT registry=URL`},
		{mode: "quit", stopErr: "had exited before it was stopped (<nil>); its stderr:\nbye"},
		{mode: "stubborn", stopTimeout: 200 * time.Millisecond, stopErr: "did not exit within 200ms of SIGTERM and was killed; its stderr:\nnot stopping"},
		{mode: "unclean", stopErr: "stopped with exit status 4; its stderr:\nlost the log"},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			timeout := cmp.Or(tc.timeout, 30*time.Second)
			start := time.Now()
			c, err := spawnKafka(t.Context(), childCommand(tc.mode), timeout)
			if tc.startErr != "" {
				if err == nil {
					_ = c.stop()
					t.Fatalf("spawn succeeded, want an error with %q", tc.startErr)
				}
				if !strings.Contains(err.Error(), tc.startErr) || !strings.Contains(err.Error(), childArg+" "+tc.mode) {
					t.Fatalf("spawn error %q, want it to name the command and contain %q", err, tc.startErr)
				}
				if d := time.Since(start); d > timeout+10*time.Second {
					t.Errorf("failing spawn took %s", d)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.brokers) != 1 || !strings.HasPrefix(c.brokers[0], "127.0.0.1:") || !strings.HasPrefix(c.registryURL, "http://127.0.0.1:") {
				t.Errorf("brokers %q, registry %q", c.brokers, c.registryURL)
			}
			if tc.mode == "quit" {
				<-c.exited
			}
			c.stopTimeout = cmp.Or(tc.stopTimeout, 30*time.Second)
			err = c.stop()
			switch {
			case tc.stopErr == "" && err != nil:
				t.Errorf("stop: %v", err)
			case tc.stopErr != "" && (err == nil || !strings.Contains(err.Error(), tc.stopErr)):
				t.Errorf("stop = %v, want an error with %q", err, tc.stopErr)
			}
			select {
			case <-c.exited:
			default:
				t.Error("stop returned with the child still running")
			}
		})
	}
}

func TestSpawnKafkaCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := spawnKafka(ctx, childCommand("silent"), time.Minute)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("spawn = %v, want context.Canceled", err)
	}
}

func TestParseAnnouncement(t *testing.T) {
	cases := []struct {
		line     string
		brokers  []string
		registry string
	}{
		{"kafka=127.0.0.1:9092 registry=http://127.0.0.1:8081", []string{"127.0.0.1:9092"}, "http://127.0.0.1:8081"},
		{"  registry=http://r:1   kafka=a:1,b:2 extra=ignored", []string{"a:1", "b:2"}, "http://r:1"},
		{"kafka=a:1", nil, ""},
		{"registry=http://r:1 kafka=", nil, ""},
		{"", nil, ""},
	}
	for _, tc := range cases {
		b, r, err := parseAnnouncement(tc.line)
		if (err == nil) != (tc.brokers != nil) || strings.Join(b, ",") != strings.Join(tc.brokers, ",") || r != tc.registry {
			t.Errorf("parseAnnouncement(%q) = %q, %q, %v; want %q, %q", tc.line, b, r, err, tc.brokers, tc.registry)
		}
	}
}

func TestFirstLineAndTailBuffer(t *testing.T) {
	f := &firstLine{ch: make(chan string, 1)}
	for _, p := range []string{"kafka=a", ":1 registry=x\nmore", " output\nand more\n"} {
		if n, err := f.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := <-f.ch; got != "kafka=a:1 registry=x" {
		t.Errorf("first line %q", got)
	}
	long := &firstLine{ch: make(chan string, 1)}
	_, _ = long.Write([]byte(strings.Repeat("x", 5000))) // no newline: sent anyway, not buffered forever
	if got := <-long.ch; len(got) != 5000 {
		t.Errorf("overlong line of %d bytes", len(got))
	}

	tb := &tailBuffer{max: 8}
	_, _ = tb.Write([]byte("0123456789"))
	_, _ = tb.Write([]byte("ab"))
	if got, want := tb.String(), "[4 earlier bytes dropped]\n456789ab"; got != want {
		t.Errorf("tail %q, want %q", got, want)
	}
}

// TestRunSpawnedKafka runs a tiny benchmark against a broker in a child
// process and checks that the report says so and that the child is gone
// when Run returns.
func TestRunSpawnedKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const records = 1600
	rep, err := Run(ctx, Config{
		Workload: "small", Records: records, Partitions: 2,
		Kafka: KafkaSpawn, SpawnKafka: childCommand("serve"),
		Warehouse: t.TempDir(), SampleInterval: 50 * time.Millisecond, StallTimeout: 20 * time.Second,
		Freshness: FreshnessConfig{Disabled: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkReport(t, rep, records)
	kp := rep.KafkaProcess
	if kp == nil || kp.PID <= 0 || len(kp.Brokers) != 1 || kp.RegistryURL == "" {
		t.Fatalf("kafka process %+v", kp)
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil && !(kp.CPUSeconds > 0 && kp.PeakRSSBytes > 0) {
		t.Errorf("child used %v CPU-s and %d B of RSS, want both read from /proc", kp.CPUSeconds, kp.PeakRSSBytes)
	}
	if err := syscall.Kill(kp.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) = %v after Run, want ESRCH: the child was not stopped", kp.PID, err)
	}
	var txt strings.Builder
	if err := rep.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("broker in its own process, pid %d (bench.test %s)", kp.PID, childArg),
		"its CPU, allocations and RSS are NOT in the figures",
		"the broker's process",
	} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, txt.String())
		}
	}
}

// TestRunSpawnedKafkaStoppedOnError pins that a run failing after the
// broker started still stops it.
func TestRunSpawnedKafkaStoppedOnError(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Run(t.Context(), Config{
		Workload: "small", Records: 10, Partitions: 1,
		Kafka: KafkaSpawn, SpawnKafka: childCommand("serve", pidFile),
		Warehouse: filepath.Join(notDir, "wh"), // cannot be created: the run fails after Kafka started
		Freshness: FreshnessConfig{Disabled: true},
	})
	if err == nil {
		t.Fatal("Run succeeded with a warehouse under a regular file")
	}
	b, rerr := os.ReadFile(pidFile)
	if rerr != nil {
		t.Fatalf("the child never started (%v); Run: %v", rerr, err)
	}
	pid, _ := strconv.Atoi(string(b))
	if kerr := syscall.Kill(pid, 0); pid <= 0 || !errors.Is(kerr, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) = %v after the failed run, want ESRCH: the child was left running", pid, kerr)
	}
}
