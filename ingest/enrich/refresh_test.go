package enrich_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bigfather/bigfather/ingest/enrich"
	"github.com/bigfather/bigfather/internal/eventually"
)

func TestRunRefreshesOnEveryTick(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		p := writeFile(t, dir, "a.csv", "id,name\n1,old\n2,gone\n")
		tbl := mustOpen(t, enrich.Source{Name: "a", Location: p, Key: []string{"id"}, Columns: []enrich.Column{{Name: "name"}},
			Refresh: time.Minute}, enrich.Deps{})
		start := time.Now()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- tbl.Run(ctx) }()

		writeFile(t, dir, "a.csv", "id,name\n1,new\n3,added\n")
		time.Sleep(time.Minute - time.Nanosecond)
		synctest.Wait()
		wantRow(t, tbl, key("1"), map[string]any{"name": "old"}) // not yet

		time.Sleep(time.Nanosecond)
		synctest.Wait()
		wantRow(t, tbl, key("1"), map[string]any{"name": "new"})
		wantRow(t, tbl, key("3"), map[string]any{"name": "added"})
		wantMiss(t, tbl, key("2"))
		s := tbl.Stats()
		if s.Refreshes != 1 || s.RefreshErrors != 0 || s.Rows != 2 || !s.LastRefresh.Equal(start.Add(time.Minute)) {
			t.Errorf("Stats() = %+v, want one refresh at %v", s, start.Add(time.Minute))
		}

		time.Sleep(time.Minute)
		synctest.Wait()
		if s := tbl.Stats(); s.Refreshes != 2 {
			t.Errorf("Stats().Refreshes = %d after two ticks, want 2", s.Refreshes)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v after cancel, want nil", err)
		}
	})
}

func TestRunWithoutRefreshWaitsForCancel(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		p := writeFile(t, dir, "a.csv", "id,name\n1,old\n")
		tbl := mustOpen(t, enrich.Source{Name: "a", Location: p, Key: []string{"id"}, Columns: []enrich.Column{{Name: "name"}}}, enrich.Deps{})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- tbl.Run(ctx) }()
		writeFile(t, dir, "a.csv", "id,name\n1,new\n")
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Run() returned %v before cancel", err)
		default:
		}
		wantRow(t, tbl, key("1"), map[string]any{"name": "old"})
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	})
}

// A refresh that fails for any reason keeps serving the data it had.
func TestRefreshFailureKeepsOldData(t *testing.T) {
	tests := []struct {
		name, file, next string
		want             string // in the logged error
	}{
		{"malformed csv", "a.csv", "id,name,plays\n1,new,1\n2,\"unterminated\n", "extraneous or missing"},
		{"column removed", "a.csv", "id,plays\n1,5\n", `column "name" not in the data`},
		{"key column removed", "a.csv", "name,plays\nnew,5\n", `key column "id" not in the data`},
		{"bad value for the type", "a.csv", "id,name,plays\n1,new,many\n", `"many" is not a valid long`},
		{"file removed", "a.csv", "", "no such file"},
		{"jsonl type changed", "a.jsonl", `{"id": 1, "name": "new", "plays": "five"}`, `column "plays": a string is not a valid long`},
		{"jsonl malformed", "a.jsonl", "{\"id\": 1, \"name\": \"new\", \"plays\": 1}\n{\"id\": 2,\n", "line 2: malformed JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			first := "id,name,plays\n1,old,5\n"
			if strings.HasSuffix(tt.file, ".jsonl") {
				first = `{"id": 1, "name": "old", "plays": 5}`
			}
			p := writeFile(t, dir, tt.file, first)
			logs := &logBuffer{}
			src := enrich.Source{Name: "a", Location: p, Key: []string{"id"}, Columns: []enrich.Column{{Name: "name"}, {Name: "plays", Type: "long"}}}
			if strings.HasSuffix(tt.file, ".jsonl") {
				src.Columns[1].Type = "" // inferred as long at Open, then fixed
			}
			tbl := mustOpen(t, src, enrich.Deps{Logger: logs.logger()})
			if tt.next == "" {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			} else {
				writeFile(t, dir, tt.file, tt.next)
			}
			enrich.RefreshNow(t.Context(), tbl)
			wantRow(t, tbl, key("1"), map[string]any{"name": "old", "plays": int64(5)})
			if s := tbl.Stats(); s.RefreshErrors != 1 || s.Refreshes != 0 {
				t.Errorf("Stats() = %+v, want one refresh error and no refresh", s)
			}
			if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, strings.ReplaceAll(tt.want, `"`, `\"`)) || !strings.Contains(l, `enrich \"a\"`) {
				t.Errorf("log lacks an error naming the source and containing %q:\n%s", tt.want, l)
			}

			// Once the data is fixed the next refresh recovers.
			writeFile(t, dir, tt.file, strings.ReplaceAll(first, "old", "fixed"))
			enrich.RefreshNow(t.Context(), tbl)
			wantRow(t, tbl, key("1"), map[string]any{"name": "fixed", "plays": int64(5)})
		})
	}
}

// JSON types inferred at Open are fixed for the lookup's life, so a
// refresh whose doubles happen to be integral still fits.
func TestJSONLRefreshKeepsInferredTypes(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "a.jsonl", `{"id": 1, "v": 1.5}`)
	tbl := mustOpen(t, enrich.Source{Name: "a", Location: p, Key: []string{"id"}, Columns: []enrich.Column{{Name: "v"}}}, enrich.Deps{})
	writeFile(t, dir, "a.jsonl", `{"id": 1, "v": 2}`+"\n"+`{"id": 2, "v": null}`)
	enrich.RefreshNow(t.Context(), tbl)
	wantRow(t, tbl, key("1"), map[string]any{"v": 2.0})
	wantRow(t, tbl, key("2"), map[string]any{"v": nil})
	if s := tbl.Stats(); s.RefreshErrors != 0 || s.Refreshes != 1 {
		t.Errorf("Stats() = %+v, want one clean refresh", s)
	}
}

// versionCSV is version v of a file whose every row carries v in all its
// columns, so a row mixing two versions is detectable.
func versionCSV(v, rows int) string {
	var b strings.Builder
	b.WriteString("id,v_long,v_text,v_double,pad\n")
	for i := range rows {
		fmt.Fprintf(&b, "%d,%d,v%d,%d.5,%s\n", i, v, v, v, strings.Repeat("x", v%7))
	}
	return b.String()
}

// Readers racing refreshes see whole rows of one version, never a mix,
// and versions never go backwards. Run it with -race.
func TestRefreshConcurrentReadersSeeWholeRows(t *testing.T) {
	const rows, versions, readers = 200, 30, 4
	dir := t.TempDir()
	p := writeFile(t, dir, "v.csv", versionCSV(0, rows))
	tbl := mustOpen(t, enrich.Source{Name: "v", Location: p, Key: []string{"id"}, Refresh: time.Millisecond, Columns: []enrich.Column{
		{Name: "v_long", Type: "long"}, {Name: "v_text"}, {Name: "v_double", Type: "double"}, {Name: "pad"},
	}}, enrich.Deps{})
	dec := newDecoder(t, tbl.Fields())
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := tbl.Run(ctx); err != nil {
			t.Errorf("Run() = %v", err)
		}
	})
	stop := make(chan struct{})
	seen := make([]map[int64]bool, readers)
	for r := range readers {
		seen[r] = map[int64]bool{}
		wg.Go(func() {
			var buf []byte
			last := int64(-1)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var ok bool
				buf, ok = tbl.Lookup(buf[:0], key(strconv.Itoa(i%rows)))
				if !ok {
					t.Errorf("reader %d: key %d missing", r, i%rows)
					return
				}
				got, err := dec.try(buf)
				if err != nil {
					t.Errorf("reader %d: %v", r, err)
					return
				}
				v := got["v_long"].(int64)
				want := map[string]any{"v_long": v, "v_text": fmt.Sprintf("v%d", v), "v_double": float64(v) + 0.5, "pad": strings.Repeat("x", int(v%7))}
				if v%7 == 0 {
					want["pad"] = nil
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("reader %d: torn row %v", r, got)
					return
				}
				if v < last {
					t.Errorf("reader %d: version went back from %d to %d", r, last, v)
					return
				}
				last = v
				seen[r][v] = true
			}
		})
	}
	for v := 1; v <= versions; v++ {
		writeFile(t, dir, "v.csv", versionCSV(v, rows))
		// Counted after the rename: a refresh running now may have opened
		// the old file, but the one after it started after the rename.
		before := tbl.Stats().Refreshes
		eventually.Within(t, 10*time.Second, func() error {
			if tbl.Stats().Refreshes < before+2 {
				return fmt.Errorf("no refresh within 10s (stats %+v)", tbl.Stats())
			}
			return nil
		})
	}
	close(stop)
	cancel()
	wg.Wait()
	if s := tbl.Stats(); s.RefreshErrors != 0 {
		t.Errorf("Stats().RefreshErrors = %d, want 0", s.RefreshErrors)
	}
	wantRow(t, tbl, key("0"), map[string]any{"v_long": int64(versions), "v_text": fmt.Sprintf("v%d", versions),
		"v_double": float64(versions) + 0.5, "pad": strings.Repeat("x", versions%7)})
	for r, vs := range seen {
		if len(vs) < 2 {
			t.Errorf("reader %d saw only versions %v: the test did not race lookups with refreshes", r, vs)
		}
	}
}
