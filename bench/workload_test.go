package bench

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
)

// TestWorkloadEncoding checks every workload's records against its
// registered schema with a decoder it did not write (hamba/avro): each
// payload decodes, and encoding the decoded value again gives the same
// bytes, so nothing is missing or left over. The records also decode
// through Big Father's own decoder into the table layout, and have the
// sizes the workloads promise.
func TestWorkloadEncoding(t *testing.T) {
	sizes := map[string][2]float64{ // average Avro payload bytes, min and max
		"tracks": {150, 260},
		"small":  {200, 320},
		"wide":   {850, 1200},
	}
	for _, name := range Workloads() {
		t.Run(name, func(t *testing.T) {
			wl, _ := LookupWorkload(name)
			sch, err := avro.Parse(wl.Schema)
			if err != nil {
				t.Fatalf("schema does not parse: %v\n%s", err, wl.Schema)
			}
			ice, err := schema.ToIceberg(sch)
			if err != nil {
				t.Fatal(err)
			}
			arr, err := schema.ArrowSchema(ice)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := decode.NewDecoder(sch, ice)
			if err != nil {
				t.Fatal(err)
			}
			rb := array.NewRecordBuilder(memory.DefaultAllocator, arr)
			defer rb.Release()

			gen := wl.newGen(7)
			const n = 300
			var total int
			keys := map[string]bool{}
			for i := range n {
				payload, key, err := gen.next(nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				total += len(payload)
				if len(key) == 0 || keys[string(key)] {
					t.Fatalf("record %d: key %q is empty or repeated", i, key)
				}
				keys[string(key)] = true
				var v any
				if err := avro.Unmarshal(sch, payload, &v); err != nil {
					t.Fatalf("record %d does not decode: %v", i, err)
				}
				again, err := avro.Marshal(sch, v)
				if err != nil {
					t.Fatalf("record %d: re-encode: %v", i, err)
				}
				if !bytes.Equal(again, payload) {
					t.Fatalf("record %d: re-encoded bytes differ:\n got %x\nwant %x", i, again, payload)
				}
				if err := dec.Decode(payload, rb); err != nil {
					t.Fatalf("record %d: decode.Decoder: %v", i, err)
				}
				schema.AppendMeta(rb, &schema.Meta{Topic: "t", Key: key})
			}
			rec := rb.NewRecordBatch()
			defer rec.Release()
			if rec.NumRows() != n {
				t.Errorf("%d rows decoded, want %d", rec.NumRows(), n)
			}
			avg := float64(total) / n
			if r := sizes[name]; avg < r[0] || avg > r[1] {
				t.Errorf("average payload %.0f B, want %v–%v", avg, r[0], r[1])
			}
			t.Logf("%s: %d fields, average payload %.0f B", name, len(ice.Fields()), avg)
		})
	}
}

// TestWorkloadDeterministic pins that a seed gives the same records, so
// that runs on different machines load the same data.
func TestWorkloadDeterministic(t *testing.T) {
	for _, name := range Workloads() {
		wl, _ := LookupWorkload(name)
		a, b := wl.newGen(42), wl.newGen(42)
		for i := range 50 {
			va, ka, _ := a.next(nil, nil)
			vb, kb, _ := b.next(nil, nil)
			if !bytes.Equal(va, vb) || !bytes.Equal(ka, kb) {
				t.Fatalf("%s: record %d differs between two generators with the same seed", name, i)
			}
		}
	}
}
