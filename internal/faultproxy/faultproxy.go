// Package faultproxy is a reverse proxy that injects the faults an object
// store shows in production: 503s before a request is forwarded, responses
// lost after the request was applied (the connection is reset instead of
// answered), and latency spikes. Faults are chosen per request class (HTTP
// method and a path pattern, e.g. metadata PUTs apart from data PUTs and
// GETs), with a seeded random source so a run can be repeated.
//
// It is test tooling: the table and objstore tests put it between the S3
// client and gofakes3, and .ci/e2e-s3.sh runs it (internal/tools/faultproxy)
// between `bigfather run` and versitygw.
package faultproxy

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StatsPath is served by the proxy itself (never forwarded) with the
// per-rule counters as JSON. No S3 bucket can be named "_faultproxy".
const StatsPath = "/_faultproxy/stats"

// Rule is one request class and its faults. The first rule whose Method
// and Path match a request applies; a request no rule matches is
// forwarded untouched.
type Rule struct {
	Name   string         // for logs and stats; default "rule<i>"
	Method string         // "" or "*" matches any method
	Path   *regexp.Regexp // matched against the URL path; nil matches any
	// Fail is the probability of answering 503 SlowDown without
	// forwarding: nothing reaches the server.
	Fail float64
	// Drop is the probability of forwarding the request, letting the
	// server apply it and answer, and then resetting the client's
	// connection instead of relaying the answer: the outcome is unknown
	// to the client.
	Drop float64
	// FailAfter is the probability of forwarding the request, letting the
	// server apply it, and answering 500 InternalError instead of the
	// server's answer: a 5xx after the request was applied, which the
	// client's retries must not take for a failure before it.
	FailAfter float64
	// Delay is the probability of holding the request for a random time
	// in [DelayMin, DelayMax] before handling it.
	Delay              float64
	DelayMin, DelayMax time.Duration
	// Max, when positive, bounds how many requests this rule fails or
	// drops; after that it only delays. Max 1 with Drop 1 loses exactly
	// the first response, so a test can aim at one retry.
	Max int64
}

func (r Rule) matches(req *http.Request) bool {
	if r.Method != "" && r.Method != "*" && !strings.EqualFold(r.Method, req.Method) {
		return false
	}
	return r.Path == nil || r.Path.MatchString(req.URL.Path)
}

// RuleStats counts what a rule did.
type RuleStats struct {
	Matched     int64 `json:"matched"`
	Failed      int64 `json:"failed"`       // answered 503, not forwarded
	Dropped     int64 `json:"dropped"`      // forwarded, applied, response reset
	FailedAfter int64 `json:"failed_after"` // forwarded, applied, answered 500
	Delayed     int64 `json:"delayed"`
	Forwarded   int64 `json:"forwarded"` // reached the server (Dropped included)
}

// Proxy is an http.Handler forwarding to one upstream.
type Proxy struct {
	target *url.URL
	rules  []Rule
	log    *slog.Logger
	rp     *httputil.ReverseProxy
	tr     http.RoundTripper

	mu    sync.Mutex
	rng   *rand.Rand
	stats map[string]*RuleStats
}

// New returns a proxy to target applying rules, drawing faults from a
// random source seeded with seed. log may be nil.
func New(target *url.URL, rules []Rule, seed uint64, log *slog.Logger) *Proxy {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{
		target: target,
		rules:  make([]Rule, len(rules)),
		log:    log,
		tr:     http.DefaultTransport.(*http.Transport).Clone(),
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		stats:  map[string]*RuleStats{},
	}
	for i, r := range rules {
		if r.Name == "" {
			r.Name = "rule" + strconv.Itoa(i)
		}
		p.rules[i] = r
		p.stats[r.Name] = &RuleStats{}
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// S3 signs the Host header: keep the client's.
			pr.Out.Host = pr.In.Host
		},
		Transport: p.tr,
		ErrorLog:  slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return p
}

// Target returns the upstream URL, for a client that must bypass the faults.
func (p *Proxy) Target() *url.URL {
	u := *p.target
	return &u
}

// Stats returns a copy of the counters, by rule name.
func (p *Proxy) Stats() map[string]RuleStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]RuleStats, len(p.stats))
	for k, v := range p.stats {
		out[k] = *v
	}
	return out
}

// decision is what happens to one request, drawn under the lock so the
// sequence of draws (not their timing) depends on the seed alone.
type decision struct {
	rule        string
	delay       time.Duration
	fail, drop  bool
	failAfter   bool
	forwardOnly bool // no rule matched
}

func (p *Proxy) decide(req *http.Request) decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.rules {
		if !r.matches(req) {
			continue
		}
		d := decision{rule: r.Name}
		st := p.stats[r.Name]
		st.Matched++
		if r.Delay > 0 && p.rng.Float64() < r.Delay {
			d.delay = r.DelayMin
			if span := r.DelayMax - r.DelayMin; span > 0 {
				d.delay += time.Duration(p.rng.Int64N(int64(span) + 1))
			}
			st.Delayed++
		}
		spent := r.Max > 0 && st.Failed+st.Dropped+st.FailedAfter >= r.Max
		switch {
		case spent:
			st.Forwarded++
		case r.Fail > 0 && p.rng.Float64() < r.Fail:
			d.fail = true
			st.Failed++
		case r.Drop > 0 && p.rng.Float64() < r.Drop:
			d.drop = true
			st.Dropped++
			st.Forwarded++
		case r.FailAfter > 0 && p.rng.Float64() < r.FailAfter:
			d.failAfter = true
			st.FailedAfter++
			st.Forwarded++
		default:
			st.Forwarded++
		}
		return d
	}
	return decision{forwardOnly: true}
}

// ServeHTTP applies the first matching rule's faults and forwards.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == StatsPath && req.Method == http.MethodGet {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(p.Stats())
		return
	}
	d := p.decide(req)
	if d.forwardOnly {
		p.rp.ServeHTTP(w, req)
		return
	}
	if d.delay > 0 {
		p.log.Info("fault: delay", "rule", d.rule, "method", req.Method, "path", req.URL.Path, "delay", d.delay)
		select {
		case <-time.After(d.delay):
		case <-req.Context().Done():
			return
		}
	}
	switch {
	case d.fail:
		p.log.Info("fault: 503 before forwarding", "rule", d.rule, "method", req.Method, "path", req.URL.Path)
		// Read the body first, so the client sees the 503 rather than a
		// broken pipe while it is still sending.
		_, _ = io.Copy(io.Discard, req.Body)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>injected by faultproxy</Message></Error>`)
	case d.drop:
		status, err := p.forwardAndDiscard(req)
		p.log.Info("fault: response dropped after forwarding", "rule", d.rule, "method", req.Method,
			"path", req.URL.Path, "upstream_status", status, "err", err)
		reset(w)
	case d.failAfter:
		status, err := p.forwardAndDiscard(req)
		p.log.Info("fault: 500 after forwarding", "rule", d.rule, "method", req.Method,
			"path", req.URL.Path, "upstream_status", status, "err", err)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected by faultproxy after applying the request</Message></Error>`)
	default:
		p.rp.ServeHTTP(w, req)
	}
}

// forwardAndDiscard sends req upstream and reads the whole answer, so the
// server has finished applying it before the client's connection is reset.
func (p *Proxy) forwardAndDiscard(req *http.Request) (int, error) {
	out := req.Clone(req.Context())
	out.RequestURI = ""
	u := *p.target
	u.Path = strings.TrimSuffix(p.target.Path, "/") + req.URL.Path
	u.RawPath = ""
	if req.URL.RawPath != "" {
		u.RawPath = strings.TrimSuffix(p.target.EscapedPath(), "/") + req.URL.RawPath
	}
	u.RawQuery = req.URL.RawQuery
	out.URL = &u
	out.Host = req.Host
	resp, err := p.tr.RoundTrip(out)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// reset closes the client connection with an RST (SO_LINGER 0) and no
// response, which is how a lost response looks to the client.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler) // HTTP/2: aborts the stream
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}
