// Command faultproxy runs internal/faultproxy as a process, between a
// program and its S3 endpoint, for the end-to-end fault test
// (.ci/e2e-s3.sh):
//
//	go run ./internal/tools/faultproxy -listen 127.0.0.1:9001 -target http://127.0.0.1:9000 -seed 7 \
//	    -rule 'name=meta method=PUT path=/metadata/v[0-9]+\.metadata\.json$ drop=0.3 fail=0.05' \
//	    -rule 'name=all fail=0.05 delay=0.02 delay_min=100ms delay_max=1s'
//
// Rules apply in order, the first match wins (see faultproxy.ParseRule).
// Every injected fault is logged to stderr; GET /_faultproxy/stats answers
// the counters as JSON, and they are printed to stdout on exit (SIGTERM or
// SIGINT). It exits 0 after a signal, 1 when it cannot serve, 2 on bad
// flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/bigfather/bigfather/internal/faultproxy"
)

var errUsage = errors.New("usage")

type ruleFlags []faultproxy.Rule

func (r *ruleFlags) String() string { return fmt.Sprint(len(*r)) + " rules" }

func (r *ruleFlags) Set(v string) error {
	rule, err := faultproxy.ParseRule(v)
	if err != nil {
		return err
	}
	*r = append(*r, rule)
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "faultproxy: %v\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "faultproxy: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("faultproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on")
	target := fs.String("target", "", "upstream base URL, e.g. http://127.0.0.1:9000 (required)")
	seed := fs.Uint64("seed", 1, "seed of the fault draws")
	var rules ruleFlags
	fs.Var(&rules, "rule", "a fault rule (repeatable), e.g. 'name=meta method=PUT path=REGEXP drop=0.3 fail=0.05 delay=0.1 delay_min=10ms delay_max=1s max=N'")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("%w: -target %q must be an absolute URL", errUsage, *target)
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	p := faultproxy.New(u, rules, *seed, log)
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", *listen, err)
	}
	specs := make([]string, len(rules))
	for i, r := range rules {
		specs[i] = fmt.Sprintf("%+v", r)
	}
	log.Info("faultproxy serving", "addr", l.Addr().String(), "target", u.String(), "seed", *seed, "rules", strings.Join(specs, "; "))
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return json.NewEncoder(stdout).Encode(p.Stats())
}
