package faultproxy_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bigfather/bigfather/internal/faultproxy"
)

// upstream records every request it receives, with its full body.
type upstream struct {
	mu   sync.Mutex
	seen []string // "METHOD path?query host body"
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, r.Method+" "+r.URL.RequestURI()+" "+r.Host+" "+string(body))
	u.mu.Unlock()
	w.Header().Set("X-Upstream", "yes")
	io.WriteString(w, "ok:"+string(body))
}

func (u *upstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

func start(t *testing.T, rules []faultproxy.Rule, seed uint64) (*upstream, *faultproxy.Proxy, string) {
	t.Helper()
	up := &upstream{}
	us := httptest.NewServer(up)
	t.Cleanup(us.Close)
	target, err := url.Parse(us.URL)
	if err != nil {
		t.Fatal(err)
	}
	p := faultproxy.New(target, rules, seed, nil)
	ps := httptest.NewServer(p)
	t.Cleanup(ps.Close)
	return up, p, ps.URL
}

func do(t *testing.T, method, u, body string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "bucket.example:9000"
	// A fresh connection per request, so a reset hits only this one.
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

var metaPath = regexp.MustCompile(`\.metadata\.json$`)

func TestForwardsUnmatchedUntouched(t *testing.T) {
	up, p, base := start(t, []faultproxy.Rule{{Name: "meta", Method: "PUT", Path: metaPath, Fail: 1}}, 1)
	resp, body, err := do(t, "PUT", base+"/b/data/f.parquet?x=1", "payload")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || body != "ok:payload" || resp.Header.Get("X-Upstream") != "yes" {
		t.Fatalf("got %d %q, want the upstream's 200 ok:payload", resp.StatusCode, body)
	}
	if got := up.requests(); len(got) != 1 || got[0] != "PUT /b/data/f.parquet?x=1 bucket.example:9000 payload" {
		t.Fatalf("upstream saw %q; want the request with its query, Host and body", got)
	}
	// A GET of a metadata file is another class than its PUT.
	if resp, _, err := do(t, "GET", base+"/b/t/metadata/v1.metadata.json", ""); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET metadata: %v %v, want forwarded", resp, err)
	}
	if st := p.Stats()["meta"]; st.Matched != 0 {
		t.Fatalf("meta rule matched %d requests, want 0", st.Matched)
	}
}

func TestFailAnswers503WithoutForwarding(t *testing.T) {
	up, p, base := start(t, []faultproxy.Rule{{Name: "meta", Method: "PUT", Path: metaPath, Fail: 1}}, 1)
	resp, body, err := do(t, "PUT", base+"/b/t/metadata/v2.metadata.json", strings.Repeat("x", 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "<Code>SlowDown</Code>") {
		t.Fatalf("got %d %q, want 503 SlowDown", resp.StatusCode, body)
	}
	if got := up.requests(); len(got) != 0 {
		t.Fatalf("upstream saw %d requests, want none", len(got))
	}
	if st := p.Stats()["meta"]; st.Failed != 1 || st.Forwarded != 0 {
		t.Fatalf("stats %+v, want failed=1 forwarded=0", st)
	}
}

func TestDropAppliesThenResets(t *testing.T) {
	up, p, base := start(t, []faultproxy.Rule{{Name: "meta", Method: "PUT", Path: metaPath, Drop: 1}}, 1)
	resp, _, err := do(t, "PUT", base+"/b/t/metadata/v2.metadata.json", "meta-v2")
	if err == nil {
		t.Fatalf("got a response (%d), want the connection reset", resp.StatusCode)
	}
	// The request reached the server, whole, before the client lost it.
	if got := up.requests(); len(got) != 1 || !strings.HasSuffix(got[0], " meta-v2") {
		t.Fatalf("upstream saw %q, want the PUT applied once with its body", got)
	}
	if st := p.Stats()["meta"]; st.Dropped != 1 || st.Forwarded != 1 {
		t.Fatalf("stats %+v, want dropped=1 forwarded=1", st)
	}
}

func TestFailAfterAppliesThenAnswers500(t *testing.T) {
	up, p, base := start(t, []faultproxy.Rule{{Name: "meta", Method: "PUT", Path: metaPath, FailAfter: 1}}, 1)
	resp, body, err := do(t, "PUT", base+"/b/t/metadata/v2.metadata.json", "meta-v2")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "<Code>InternalError</Code>") {
		t.Fatalf("got %d %q, want 500 InternalError", resp.StatusCode, body)
	}
	if got := up.requests(); len(got) != 1 || !strings.HasSuffix(got[0], " meta-v2") {
		t.Fatalf("upstream saw %q, want the PUT applied once with its body", got)
	}
	if st := p.Stats()["meta"]; st.FailedAfter != 1 || st.Forwarded != 1 {
		t.Fatalf("stats %+v, want failed_after=1 forwarded=1", st)
	}
}

func TestMaxBoundsFaults(t *testing.T) {
	up, p, base := start(t, []faultproxy.Rule{{Name: "meta", Method: "PUT", Path: metaPath, Drop: 1, Max: 1}}, 1)
	if _, _, err := do(t, "PUT", base+"/b/t/metadata/v2.metadata.json", "a"); err == nil {
		t.Fatal("first PUT answered, want it dropped")
	}
	for range 3 {
		if resp, _, err := do(t, "PUT", base+"/b/t/metadata/v2.metadata.json", "b"); err != nil || resp.StatusCode != 200 {
			t.Fatalf("PUT after max faults: %v %v, want forwarded and answered", resp, err)
		}
	}
	if st := p.Stats()["meta"]; st.Dropped != 1 || st.Forwarded != 4 || len(up.requests()) != 4 {
		t.Fatalf("stats %+v, upstream %d; want one drop, four forwarded", st, len(up.requests()))
	}
}

func TestDelay(t *testing.T) {
	const d = 150 * time.Millisecond
	_, p, base := start(t, []faultproxy.Rule{{Name: "get", Method: "GET", Delay: 1, DelayMin: d, DelayMax: d}}, 1)
	t0 := time.Now()
	if resp, _, err := do(t, "GET", base+"/b/k", ""); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	if el := time.Since(t0); el < d {
		t.Fatalf("answered in %s, want a delay of at least %s", el, d)
	}
	if st := p.Stats()["get"]; st.Delayed != 1 || st.Forwarded != 1 {
		t.Fatalf("stats %+v, want delayed=1 forwarded=1", st)
	}
}

// outcomes runs n metadata PUTs and returns each one's fate as a letter:
// o forwarded and answered, f 503, d dropped.
func outcomes(t *testing.T, seed uint64, n int) (string, map[string]faultproxy.RuleStats) {
	t.Helper()
	_, p, base := start(t, []faultproxy.Rule{{Name: "meta", Method: "PUT", Path: metaPath, Fail: 0.1, Drop: 0.3}}, seed)
	var sb strings.Builder
	for range n {
		resp, _, err := do(t, "PUT", base+"/b/t/metadata/v9.metadata.json", "m")
		switch {
		case err != nil:
			sb.WriteByte('d')
		case resp.StatusCode == 503:
			sb.WriteByte('f')
		default:
			sb.WriteByte('o')
		}
	}
	return sb.String(), p.Stats()
}

func TestSeedIsDeterministic(t *testing.T) {
	const n = 200
	a, st := outcomes(t, 42, n)
	b, _ := outcomes(t, 42, n)
	c, _ := outcomes(t, 43, n)
	if a != b {
		t.Fatalf("same seed, different faults:\n%s\n%s", a, b)
	}
	if a == c {
		t.Fatalf("different seeds gave the same %d faults", n)
	}
	// The rates are roughly the configured ones (binomial, n=200: far
	// outside these bounds is a bug, not bad luck).
	m := st["meta"]
	if m.Matched != n || m.Failed < 5 || m.Failed > 40 || m.Dropped < 35 || m.Dropped > 90 {
		t.Fatalf("stats %+v for fail=0.1 drop=0.3 over %d", m, n)
	}
	if int64(strings.Count(a, "d")) != m.Dropped || int64(strings.Count(a, "f")) != m.Failed {
		t.Fatalf("client saw %q, stats say %+v", a, m)
	}
}

func TestStatsEndpoint(t *testing.T) {
	up, _, base := start(t, []faultproxy.Rule{{Name: "all", Fail: 1}}, 1)
	do(t, "PUT", base+"/b/k", "x")
	resp, body, err := do(t, "GET", base+faultproxy.StatsPath, "")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stats: %v %v", resp, err)
	}
	var st map[string]faultproxy.RuleStats
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("stats body %q: %v", body, err)
	}
	if st["all"].Failed != 1 || st["all"].Matched != 1 {
		t.Fatalf("stats %+v, want the one failed PUT (and not the stats GET itself)", st)
	}
	if len(up.requests()) != 0 {
		t.Fatal("the stats request was forwarded")
	}
}

func TestParseRule(t *testing.T) {
	r, err := faultproxy.ParseRule(`name=meta method=put path=/metadata/[^/]+\.metadata\.json$ fail=0.05 drop=0.3 delay=0.1 delay_min=50ms delay_max=800ms`)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "meta" || r.Method != "PUT" || r.Fail != 0.05 || r.Drop != 0.3 || r.Delay != 0.1 ||
		r.DelayMin != 50*time.Millisecond || r.DelayMax != 800*time.Millisecond ||
		!r.Path.MatchString("/b/wh/t/metadata/v3.metadata.json") || r.Path.MatchString("/b/wh/t/data/x.parquet") {
		t.Fatalf("parsed %+v", r)
	}
	if r, err := faultproxy.ParseRule("drop=1 max=1"); err != nil || r.Max != 1 || r.Drop != 1 {
		t.Fatalf("max: %+v, %v", r, err)
	}
	if r, err := faultproxy.ParseRule("delay=1 delay_min=10ms"); err != nil || r.DelayMax != 10*time.Millisecond {
		t.Fatalf("delay_min alone: %+v, %v; want delay_max = delay_min", r, err)
	}
	if r, err := faultproxy.ParseRule("fail_after=0.25"); err != nil || r.FailAfter != 0.25 {
		t.Fatalf("fail_after: %+v, %v", r, err)
	}
	for _, bad := range []string{"fail=2", "drop=-0.1", "fail=0.6 drop=0.6", "drop=0.5 fail_after=0.6", "bogus=1", "fail", "path=(",
		"delay=0.5", "delay_min=2s delay_max=1s", "delay_min=x"} {
		if _, err := faultproxy.ParseRule(bad); err == nil {
			t.Errorf("ParseRule(%q) accepted", bad)
		}
	}
}
