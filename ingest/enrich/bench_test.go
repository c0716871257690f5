package enrich_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/bigfather/bigfather/ingest/enrich"
)

// writeBigCSV writes rows artists keyed by (region, id) and returns the
// path.
func writeBigCSV(tb testing.TB, rows int) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "big.csv")
	f, err := os.Create(p)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "region,id,name,plays,score,active")
	for i := range rows {
		fmt.Fprintf(w, "r%d,%d,artist number %d,%d,%d.25,%t\n", i%8, i, i, i*3, i, i%2 == 0)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
	return p
}

func openBig(tb testing.TB, rows int) *enrich.Table {
	tb.Helper()
	tbl, err := enrich.Open(tb.Context(), enrich.Source{
		Name: "big", Location: writeBigCSV(tb, rows), Key: []string{"region", "id"},
		Columns: []enrich.Column{{Name: "name"}, {Name: "plays", Type: "long"}, {Name: "score", Type: "double"}, {Name: "active", Type: "boolean"}},
	}, enrich.Deps{})
	if err != nil {
		tb.Fatal(err)
	}
	return tbl
}

func bigKey(i int) []byte {
	return strconv.AppendInt(append([]byte("r"+strconv.Itoa(i%8)), 0), int64(i), 10)
}

// The lookup hot path must not allocate, hit or miss.
func TestLookupDoesNotAllocate(t *testing.T) {
	tbl := openBig(t, 1000)
	hit, miss := bigKey(7), bigKey(5000)
	dst := make([]byte, 0, 256)
	var ok bool
	if n := testing.AllocsPerRun(1000, func() { dst, ok = tbl.Lookup(dst[:0], hit) }); n != 0 || !ok {
		t.Errorf("Lookup(hit) allocates %v times per call (found %v), want 0", n, ok)
	}
	if n := testing.AllocsPerRun(1000, func() { dst, ok = tbl.Lookup(dst[:0], miss) }); n != 0 || ok {
		t.Errorf("Lookup(miss) allocates %v times per call (found %v), want 0", n, ok)
	}
}

func BenchmarkLookup(b *testing.B) {
	const rows = 100_000
	tbl := openBig(b, rows)
	keys := make([][]byte, 1024)
	for i := range keys {
		keys[i] = bigKey(i * 97 % rows)
	}
	misses := make([][]byte, len(keys))
	for i := range misses {
		misses[i] = bigKey(rows + i)
	}
	for _, bc := range []struct {
		name string
		keys [][]byte
		want bool
	}{{"hit", keys, true}, {"miss", misses, false}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]byte, 0, 256)
			i := 0
			for b.Loop() {
				var ok bool
				dst, ok = tbl.Lookup(dst[:0], bc.keys[i&1023])
				if ok != bc.want {
					b.Fatalf("Lookup(%q) = %v", bc.keys[i&1023], ok)
				}
				i++
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				dst := make([]byte, 0, 256)
				i := 0
				for pb.Next() {
					dst, _ = tbl.Lookup(dst[:0], bc.keys[i&1023])
					i++
				}
			})
		})
	}
}

func BenchmarkLoadCSV(b *testing.B) {
	const rows = 100_000
	p := writeBigCSV(b, rows)
	src := enrich.Source{Name: "big", Location: p, Key: []string{"region", "id"},
		Columns: []enrich.Column{{Name: "name"}, {Name: "plays", Type: "long"}, {Name: "score", Type: "double"}, {Name: "active", Type: "boolean"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enrich.Open(b.Context(), src, enrich.Deps{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/rows, "ns/row")
}

// BenchmarkGCWithIndex measures what a live index costs every garbage
// collection: the index as built (one key string, one value arena, a map
// of spans) against the obvious map[string][]byte holding the same rows,
// and against no index at all. ns/op is one full runtime.GC.
func BenchmarkGCWithIndex(b *testing.B) {
	const rows = 1_000_000
	b.Run("none", benchGC) // the baseline: the test binary's own heap
	tbl := openBig(b, rows)
	b.Run("arena", func(b *testing.B) {
		benchGC(b)
		runtime.KeepAlive(tbl)
	})
	m := make(map[string][]byte, rows)
	for i := range rows {
		k := bigKey(i)
		v, _ := tbl.Lookup(nil, k)
		m[string(k)] = v
	}
	tbl = nil // only m holds the rows now
	b.Run("map_of_slices", func(b *testing.B) {
		benchGC(b)
		runtime.KeepAlive(m)
	})
}

func benchGC(b *testing.B) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for b.Loop() {
		runtime.GC()
	}
	b.ReportMetric(float64(ms.HeapObjects), "heap-objects")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
}

// Stats.Bytes must track the heap the index really holds.
func TestStatsBytesTracksHeap(t *testing.T) {
	const rows = 100_000
	writeBigCSV(t, 1) // warm up helpers' own allocations
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	tbl := openBig(t, rows)
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
	est := float64(tbl.Stats().Bytes)
	if r := est / heap; r < 0.75 || r > 1.33 {
		t.Errorf("Stats().Bytes = %.0f, heap grew by %.0f (ratio %.2f), want within a third", est, heap, r)
	}
	runtime.KeepAlive(tbl)
}
