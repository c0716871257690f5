package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bigfather/bigfather/ingest"
)

// fixedReadiness is a pipeline's readiness as /readyz sees it.
type fixedReadiness struct {
	ready    bool
	halted   int
	problems []ingest.Problem
}

func (f fixedReadiness) Ready() bool                { return f.ready }
func (f fixedReadiness) Stats() ingest.Stats        { return ingest.Stats{Halted: f.halted} }
func (f fixedReadiness) Problems() []ingest.Problem { return f.problems }

// /readyz is 200 only with an assignment, nothing halted and no problem,
// and its 503 names every reason.
func TestReadyzNamesEveryReason(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		r    fixedReadiness
		code int
		want []string
	}{
		{"ready", fixedReadiness{ready: true}, 200, []string{"ready"}},
		{"no assignment", fixedReadiness{}, 503, []string{"waiting for a group assignment"}},
		{"halted", fixedReadiness{ready: true, halted: 2}, 503, []string{"2 partition(s) halted"}},
		{"problems", fixedReadiness{ready: true, problems: []ingest.Problem{
			{Kind: ingest.ProblemRegistry, Reason: "schema registry unavailable, ingestion paused: 503", Since: since},
			{Kind: ingest.ProblemTopic, Reason: "topic x does not exist", Since: since},
		}}, 503, []string{"registry: schema registry unavailable, ingestion paused: 503 (since 2026-01-02T03:04:05Z)", "topic: topic x does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			readyz(tc.r)(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if w.Code != tc.code {
				t.Fatalf("code %d, want %d: %s", w.Code, tc.code, w.Body)
			}
			for _, s := range tc.want {
				if !strings.Contains(w.Body.String(), s) {
					t.Fatalf("body %q does not say %q", w.Body, s)
				}
			}
		})
	}
}
