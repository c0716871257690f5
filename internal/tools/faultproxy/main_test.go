package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/eventually"
	"github.com/bigfather/bigfather/internal/faultproxy"
)

func TestRunRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{},                            // no target
		{"-target", "127.0.0.1:9000"}, // not absolute
		{"-target", "http://h", "-rule", "fail=2"},
		{"-target", "http://h", "-bogus"},
	} {
		err := run(t.Context(), args, io.Discard, io.Discard)
		if !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}

// TestRunServesAndPrintsStats runs the command against an upstream, sends
// one request its rule fails, stops it as a signal would, and reads the
// counters it prints.
func TestRunServesAndPrintsStats(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up") }))
	defer up.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(t.Context())
	var out, logs bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-listen", addr, "-target", up.URL, "-rule", "name=puts method=PUT fail=1"}, &out, &logs)
	}()
	var resp *http.Response
	eventually.Within(t, 10*time.Second, func() error {
		req, _ := http.NewRequest("PUT", "http://"+addr+"/b/k", strings.NewReader("x"))
		if resp, err = http.DefaultClient.Do(req); err != nil {
			return fmt.Errorf("proxy never answered: %w", err)
		}
		return nil
	})
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("PUT answered %d, want the rule's 503", resp.StatusCode)
	}
	if r, err := http.Get("http://" + addr + "/b/k"); err != nil || r.StatusCode != 200 {
		t.Fatalf("GET: %v %v, want forwarded", r, err)
	} else {
		r.Body.Close()
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var st map[string]faultproxy.RuleStats
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st["puts"].Failed != 1 {
		t.Fatalf("printed stats %q (%v), want puts.failed=1", out.String(), err)
	}
	if !strings.Contains(logs.String(), "fault: 503 before forwarding") {
		t.Fatalf("logs %q do not name the injected fault", logs.String())
	}
}
