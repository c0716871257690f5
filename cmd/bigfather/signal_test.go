package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/bigfather/bigfather/internal/devkafka"
	"github.com/bigfather/bigfather/internal/eventually"
)

// hangingJoin is a Kafka whose JoinGroup never answers, so a member's
// group join stays pending, as it does while a broker is stuck or a
// rebalance waits on a frozen member. It returns the broker address.
func hangingJoin(t *testing.T) string {
	t.Helper()
	cluster, err := devkafka.Start(context.Background(), devkafka.Options{
		KafkaAddr: "127.0.0.1:0", RegistryAddr: "127.0.0.1:0", Topics: map[string]int32{"tracks": 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Close() })
	kc := cluster.Kafka()
	release := make(chan struct{})
	// Runs before cluster.Close (cleanups run last first), so the parked
	// control function lets the cluster shut down.
	t.Cleanup(func() { close(release) })
	kc.ControlKey(int16(kmsg.JoinGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
		kc.KeepControl()
		kc.SleepControl(func() { <-release })
		return nil, errors.New("join refused"), true
	})
	return cluster.Brokers()[0]
}

// stuckChild starts the real binary against a silent broker and waits
// until it is up (past opening the catalog and warehouse).
func stuckChild(t *testing.T, shutdownTimeout time.Duration) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	bin := buildBinary(t)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`pipeline: stuck
kafka: {brokers: [%q]}
schema_registry: {url: "http://127.0.0.1:1"}
warehouse: {url: %q}
tables: [{topic: tracks, table: music.tracks}]
metrics: {addr: ""}
shutdown_timeout: %s
`, hangingJoin(t), "file://"+filepath.Join(dir, "wh"), shutdownTimeout)
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "--config", cfgPath)
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	eventually.Within(t, 30*time.Second, func() error {
		switch out := log.String(); {
		case !strings.Contains(out, "msg=memory"):
			return fmt.Errorf("child did not start:\n%s", out)
		case !strings.Contains(out, "joining group"):
			return fmt.Errorf("child did not start its group join:\n%s", out)
		}
		return nil
	})
	return cmd, log
}

// A SIGTERM while the group join hangs is logged at once and the process
// exits within shutdown_timeout plus a little, whatever the broker does.
func TestSignalStopIsBoundedByShutdownTimeout(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	const timeout = 2 * time.Second
	cmd, log := stuckChild(t, timeout)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := waitExit(cmd, 30*time.Second)
	took := time.Since(start)
	if took > timeout+shutdownGrace+time.Second {
		t.Fatalf("exit took %s after SIGTERM with shutdown_timeout %s (err %v)\n%s", took, timeout, err, log)
	}
	for _, want := range []string{`level=INFO msg="signal received, stopping" signal=SIGTERM shutdown_timeout=2s`,
		`level=ERROR msg="stop did not finish within shutdown_timeout, exiting;`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
}

// A second signal during a stop that hangs exits at once, non-zero.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	cmd, log := stuckChild(t, time.Minute)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually.Within(t, 10*time.Second, func() error {
		if !strings.Contains(log.String(), "signal received, stopping") {
			return fmt.Errorf("first signal not logged:\n%s", log)
		}
		return nil
	})
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := waitExit(cmd, 30*time.Second)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("second signal: exit took %s (err %v)\n%s", took, err, log)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 128+int(syscall.SIGINT) {
		t.Fatalf("second signal: exit %v, want status %d\n%s", err, 128+int(syscall.SIGINT), log)
	}
	if !strings.Contains(log.String(), "second signal, exiting now") {
		t.Errorf("second signal not logged:\n%s", log)
	}
}

// syncBuffer is a bytes.Buffer the child's output goroutines and the test
// may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
