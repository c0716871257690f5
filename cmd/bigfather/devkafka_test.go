package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/bigfather/bigfather/bench"
)

// TestDevKafka runs `bigfather dev-kafka` as a child process on random
// ports, round-trips a record through its broker, asks its registry for
// the subjects, and stops it with SIGTERM, which must exit 0.
func TestDevKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	cmd := exec.Command(bin, "dev-kafka", "--kafka-addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--topic", "greetings:2")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout) // nothing else should come, but never block the child
	}()
	var line string
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatalf("dev-kafka printed no line\n%s", &stderr)
		}
		line = l
	case <-time.After(30 * time.Second):
		t.Fatalf("dev-kafka printed no line within 30 s\n%s", &stderr)
	}
	var broker, registry string
	for _, f := range strings.Fields(line) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "kafka":
			broker = v
		case "registry":
			registry = v
		}
	}
	if !strings.HasPrefix(broker, "127.0.0.1:") || strings.HasSuffix(broker, ":0") || !strings.HasPrefix(registry, "http://127.0.0.1:") {
		t.Fatalf("announced %q: want kafka=127.0.0.1:PORT registry=http://127.0.0.1:PORT", line)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic("greetings"))
	if err != nil {
		t.Fatal(err)
	}
	r := prod.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("hello")})
	prod.Close()
	if err := r.FirstErr(); err != nil {
		t.Fatalf("produce to the --topic topic: %v", err)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.ConsumeTopics("greetings"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	var got []*kgo.Record
	for len(got) == 0 {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume: %v", err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		got = append(got, fs.Records()...)
	}
	cons.Close()
	if len(got) != 1 || string(got[0].Key) != "k" || string(got[0].Value) != "hello" {
		t.Fatalf("consumed %d records, first %q=%q; want one k=hello", len(got), got[0].Key, got[0].Value)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, registry+"/subjects", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("registry: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var subjects []string
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &subjects) != nil || len(subjects) != 0 {
		t.Fatalf("GET /subjects = %d %q, want 200 and an empty JSON list", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 30*time.Second); err != nil {
		t.Fatalf("after SIGTERM: %v, want exit 0\n%s", err, &stderr)
	}
}

func TestDevKafkaBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--kafka-addr", "0.0.0.0:0", "--registry-addr", "127.0.0.1:0"}, // never reachable from another machine
		{"--topic", "t:0"},
		{"--topic", ":3"},
		{"--topic", "t:1", "--topic", "t:2"},
		{"--log-level", "loud"},
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		if code := run(append([]string{"dev-kafka"}, args...), &out, &errOut); code != exitUsage || out.Len() != 0 {
			t.Errorf("dev-kafka %q: exit %d, stdout %q; want %d and nothing announced (stderr %q)", args, code, &out, exitUsage, &errOut)
		}
	}
}

// TestBenchSpawnKafka runs a tiny `bigfather bench --kafka spawn` through
// the binary: the broker runs in a dev-kafka child, and the report must
// say so and show every record committed end to end.
func TestBenchSpawnKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t)
	const records = 2000
	cmd := exec.Command(bin, "bench", "--kafka", "spawn", "--workload", "small", "--records", "2000", "--partitions", "2",
		"--freshness-duration", "0", "--warehouse", t.TempDir(), "--json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 2*time.Minute); err != nil {
		t.Fatalf("bench: %v\n%s", err, &stderr)
	}
	var rep bench.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, &stdout)
	}
	kp := rep.KafkaProcess
	if rep.Kafka != bench.KafkaSpawn || kp == nil || kp.PID <= 0 || kp.PID == cmd.Process.Pid ||
		len(kp.Command) < 2 || kp.Command[1] != "dev-kafka" {
		t.Fatalf("kafka %q, process %+v: want a dev-kafka child of the bench process", rep.Kafka, kp)
	}
	if err := syscall.Kill(kp.PID, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) = %v after bench exited, want ESRCH: dev-kafka was left running", kp.PID, err)
	}
	st, e := rep.Stage(bench.StageE2E), rep.E2E
	if st == nil || e == nil {
		t.Fatalf("no E2E stage in %s", &stdout)
	}
	if st.Records != records || e.Committed != records || e.WatermarkSum != records || e.ProducedOffsets != records {
		t.Errorf("E2E: %d records, committed %d, watermarks %d, produced offsets %d; want %d each",
			st.Records, e.Committed, e.WatermarkSum, e.ProducedOffsets, records)
	}
	if !(st.RecordsPerSec > 0 && st.CPUSeconds > 0) {
		t.Errorf("E2E %v records/s, %v CPU-s", st.RecordsPerSec, st.CPUSeconds)
	}
}
