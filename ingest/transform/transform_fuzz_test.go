package transform

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
)

// fuzzChain is propChain with steps that can reject a record (an enrich
// that quarantines misses) or drop it (a filter).
func fuzzChain() []Transform {
	kinds := &mapLookup{
		fields: []*avro.Field{mustField("kind_label", avro.NewPrimitiveSchema(avro.String, nil))},
		rows:   map[string][]byte{"a": appendBytes(nil, []byte("alpha")), "b": appendBytes(nil, []byte("beta"))},
	}
	return append(propChain(),
		Transform{Op: OpFilter, Expr: "value.id % 5 != 0"},
		Transform{Op: OpEnrich, Lookup: kinds, KeyColumns: []string{"kind"}, OnMiss: "quarantine"},
		Transform{Op: OpCast, Columns: []string{"count"}, To: "long"},
		Transform{Op: OpEmptyToNull, Columns: []string{"user_uname"}},
	)
}

// FuzzTransformApply feeds arbitrary payloads to a chain bound to
// eventSchema. None may panic. A payload is either malformed (an error
// wrapping ErrMalformed, never when the writer's table decoder accepts
// it), rejected by a step (a *TransformError, not wrapping ErrMalformed),
// dropped by the filter, or transformed into bytes that hamba/avro and the
// table decoder both read under the output schema, the same bytes each
// time.
func FuzzTransformApply(f *testing.F) {
	w := avrotest.MustParse(f, eventSchema)
	p := mustProgram(f, w, fuzzChain()...)
	writerTable, err := schema.ToIceberg(w)
	if err != nil {
		f.Fatal(err)
	}
	inDec, err := decode.NewDecoder(w, writerTable)
	if err != nil {
		f.Fatal(err)
	}
	outTable, err := schema.ToIceberg(p.Schema())
	if err != nil {
		f.Fatal(err)
	}
	outDec, err := decode.NewDecoder(p.Schema(), outTable)
	if err != nil {
		f.Fatal(err)
	}
	// Seeds beyond testdata/fuzz/FuzzTransformApply: generated events.
	r := rand.New(rand.NewPCG(3, 4))
	for range 8 {
		f.Add(avrotest.MustMarshal(f, w, randEvent(r)))
	}
	dst := []byte("dst")
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, keep, err := p.Apply(dst, payload, testMeta, nil)
		if err != nil || !keep {
			if !bytes.Equal(out, dst) {
				t.Fatalf("keep = %v, err = %v, but out = %q", keep, err, out)
			}
		}
		_, isStep := errors.AsType[*TransformError](err)
		malformed := errors.Is(err, schema.ErrMalformed)
		switch {
		case err != nil && isStep == malformed:
			t.Fatalf("error %v is neither a step's nor malformed, or both", err)
		case malformed && inDec.Check(payload) == nil:
			t.Fatalf("the writer's decoder accepts the payload but Apply finds it malformed: %v", err)
		case err != nil || !keep:
			return
		}
		rec := out[len(dst):]
		var m map[string]any
		if err := avro.Unmarshal(p.Schema(), rec, &m); err != nil {
			t.Fatalf("hamba/avro cannot decode the output: %v", err)
		}
		if err := outDec.Check(rec); err != nil {
			t.Fatalf("the table decoder rejects the output: %v", err)
		}
		again, _, err := p.Apply(nil, payload, testMeta, nil)
		if err != nil || !bytes.Equal(again, rec) {
			t.Fatalf("a second Apply gives %x, %v; the first %x", again, err, rec)
		}
	})
}
