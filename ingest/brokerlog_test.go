package ingest_test

import (
	"fmt"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bigfather/bigfather/ingest"
	"github.com/bigfather/bigfather/internal/eventually"
)

// A broker that refuses connections is one rate-limited WARN (the broker
// problem), not also the Kafka client's WARN for every dial: that one
// repeated every few seconds for as long as the broker was down.
func TestRefusingBrokerWarnsOnce(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, 1)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close()
	logs := &logCount{}
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer, opts.Brokers = reg, []string{addr}
	opts.Logger = slog.New(logs.wrap(opts.Logger.Handler()))
	r := e.start(opts)
	waitProblem(t, r, reg, ingest.ProblemBroker, "cannot connect to broker "+addr, 20*time.Second)
	eventually.Within(t, 20*time.Second, func() error {
		if logs.count("unable to open connection to broker") < 3 {
			return fmt.Errorf("the client did not retry its dial 3 times: %v", logs.messages())
		}
		return nil
	})
	r.stop()
	if n := logs.warnings(); n != 1 {
		t.Fatalf("%d WARN lines for a refusing broker, want 1 (the rate-limited broker problem): %v", n, logs.messages())
	}
}
