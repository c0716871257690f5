package rules

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/bigfather/bigfather/internal/avrobin"
	"github.com/bigfather/bigfather/internal/avrotest"
	"github.com/bigfather/bigfather/schema"
)

// mustRuleEvaluator compiles rules and binds them to writer.
func mustRuleEvaluator(t testing.TB, writer avro.Schema, rules ...Rule) *RuleEvaluator {
	t.Helper()
	rs, err := CompileRules(rules)
	if err != nil {
		t.Fatalf("CompileRules: %v", err)
	}
	ev, err := rs.Bind(writer)
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	return ev
}

// ruleOf makes a one-rule set named "r".
func ruleOf(expr string) Rule { return Rule{Name: "r", Expr: expr} }

func TestCompileRulesErrors(t *testing.T) {
	cases := []struct {
		name  string
		rules []Rule
		want  []string // substrings of the error, in order
	}{
		{"syntax error", []Rule{{"isrc_format", "value.isrc.matches('x'"}}, []string{`rule "isrc_format": 1:23: Syntax error`}},
		{"undeclared reference", []Rule{{"isrc_format", "value.x > 0 && isrc.matches('^A')"}}, []string{`rule "isrc_format": 1:16: undeclared reference to 'isrc'`}},
		{"position on a later line", []Rule{{"multi", "value.x > 0 &&\n  nope"}}, []string{`rule "multi": 2:3: undeclared reference to 'nope'`}},
		{"type error", []Rule{{"typed", "topic + 1 == 'a'"}}, []string{`rule "typed": 1:7: found no matching overload for '_+_'`}},
		{"int result", []Rule{{"sum", "1 + 2"}}, []string{`rule "sum": result type is int, want bool`}},
		{"dyn result", []Rule{{"bare", "value.explicit"}}, []string{`rule "bare": result type is dyn, want bool (compare it`}},
		{"empty name", []Rule{{"", "true"}}, []string{`rule 0: name is empty`}},
		{"duplicate name", []Rule{{"a", "true"}, {"a", "false"}}, []string{`rule "a": duplicate name`}},
		{"empty expression", []Rule{{"blank", "  "}}, []string{`rule "blank": expression is empty`}},
		{"bad constant regex", []Rule{{"re", "value.isrc.matches('[')"}}, []string{`rule "re": `, "missing closing ]"}},
		{"every bad rule reported", []Rule{{"ok", "true"}, {"b1", "1"}, {"b2", "value.x +"}}, []string{`rule "b1": result type is int`, `rule "b2": 1:`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileRules(tc.rules)
			if err == nil {
				t.Fatal("CompileRules succeeded, want an error")
			}
			msg := err.Error()
			for _, w := range tc.want {
				i := strings.Index(msg, w)
				if i < 0 {
					t.Fatalf("error %q does not contain %q", msg, w)
				}
				msg = msg[i+len(w):]
			}
		})
	}
	if _, err := CompileRules(nil); err != nil {
		t.Errorf("no rules: %v", err)
	}
}

func TestRulesBindRejectsNonRecord(t *testing.T) {
	rs, err := CompileRules([]Rule{ruleOf("value.a == 1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rs.Bind(avrotest.MustParse(t, `"string"`)); err == nil || !strings.Contains(err.Error(), "want a record") {
		t.Errorf("err = %v, want it to say the writer must be a record", err)
	}
}

// TestRulesEvalTypes checks what a rule sees of every Avro type: each
// expression must hold for its record. A wrong CEL type fails the rule,
// because CEL equality across types is false.
func TestRulesEvalTypes(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	full, sparse := avrotest.MustMarshal(t, w, avrotest.FullEvent()), avrotest.MustMarshal(t, w, avrotest.SparseEvent())
	cases := []struct {
		name, expr string
		sparse     bool
	}{
		{"long", "value.id == 1099511627776 && type(value.id) == int", false},
		{"string", "value.name == 'héllo' && size(value.name) == 5", false},
		{"int", "value.age == -42", false},
		{"float", "value.score == 1.5 && type(value.score) == double", false},
		{"double", "value.ratio == -2.25", false},
		{"boolean", "value.active == true", false},
		{"bytes", "value.blob == b'\\x00\\x01\\x02\\xff'", false},
		{"fixed", "value.hash == b'\\x09\\x08\\x07\\x06'", false},
		{"enum", "value.color == 'BLUE'", false},
		{"uuid string", "value.uid == '123e4567-e89b-12d3-a456-426614174000'", false},
		{"date", "value.day == timestamp('2024-02-29T00:00:00Z') && value.day.getDayOfWeek() == 4", false},
		{"time-millis", "value.tmillis == duration('13h1s234ms')", false},
		{"time-micros", "value.tmicros == duration('5h1s234567us')", false},
		{"timestamp-millis", "value.tsmillis == timestamp('2023-11-14T22:13:20.123Z')", false},
		{"timestamp-micros", "value.tsmicros == timestamp('2023-11-14T22:13:20.123456Z')", false},
		{"local-timestamp-millis", "value.ltsmillis == timestamp('1969-12-31T23:43:19.999Z')", false},
		{"local-timestamp-micros", "value.ltsmicros - timestamp('1970-01-01T00:00:00Z') == duration('42us')", false},
		{"decimal bytes", "value.price == -123.45 && type(value.price) == double", false},
		{"decimal fixed", "value.amount == 98765.4321", false},
		{"decimal fixed negative", "value.amount == -0.0001", true},
		{"nullable set", "value.nick == 'nicky' && value.maybe_age == 7", false},
		{"nullable null", "value.nick == null && value.maybe_age == null", true},
		{"nested record", "value.address.street == 'Main St' && value.address.zip == 12345", false},
		{"nested null", "value.address.zip == null", true},
		{"nullable record", "value.maybe_addr.street == 'Side St' && value.maybe_addr.zip == null", false},
		{"nullable record null", "value.maybe_addr == null", true},
		{"record whole", "value.address == {'street': 'Main St', 'zip': 12345}", false},
		{"record whole with null", "value.maybe_addr == {'street': 'Side St', 'zip': null}", false},
		{"record as map", "size(value.address) == 2 && 'zip' in value.address && type(value.address) == map", false},
		{"record iterated", "value.address.all(k, k in ['street', 'zip'])", false},
		{"array", "value.tags == ['a', '', 'ccc'] && value.tags.exists(t, t == 'ccc')", false},
		{"empty array", "size(value.tags) == 0 && value.items == []", true},
		{"array of nullable", "value.scores == [5, null, -6]", false},
		{"map", "value.attrs == {'k': 'v'} && value.attrs.k == 'v' && value.attrs['k'] == 'v'", false},
		{"map of arrays", "value.series['s'] == [1, 2, 3]", false},
		{"array of records", "value.items[1].sku == 'y' && value.items.all(i, i.qty > 0)", false},
		{"array of records whole", "value.items[0] == {'sku': 'x', 'qty': 1}", false},
		{"index syntax", "value['name'] == 'héllo' && value['address']['street'] == 'Main St'", false},
		{"value whole", "size(value) == 28 && 'id' in value && value.name == 'héllo'", false},
		{"value whole nested", "value.exists(k, k == 'items') && value.address.zip == 12345", false},
		{"shadowed value", "[1, 2].all(value, value > 0) && value.tags.all(value, type(value) == string)", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := mustRuleEvaluator(t, w, ruleOf(tc.expr))
			p := full
			if tc.sparse {
				p = sparse
			}
			failed, err := ev.Eval(p, nil, nil)
			if failed != "" || err != nil {
				t.Errorf("%s: failed = %q, err = %v; want it to pass", tc.expr, failed, err)
			}
		})
	}
}

// TestRulesEvalMoreTypes covers writer types richSchema lacks: uuid fixed,
// multi-type unions, recursive records and writer-side renames.
func TestRulesEvalMoreTypes(t *testing.T) {
	w := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[
		{"name":"u","type":{"type":"fixed","name":"U","size":16,"logicalType":"uuid"}},
		{"name":"either","type":["null","string","long"]},
		{"name":"other","type":["null","string","long"]},
		{"name":"chain","type":{"type":"record","name":"Node","fields":[
			{"name":"n","type":"int"},
			{"name":"next","type":["null","Node"]}]}},
		{"name":"renamed","aliases":["old_name"],"type":"int"},
		{"name":"unit","type":"null"}]}`)
	type node struct {
		N    int   `avro:"n"`
		Next *node `avro:"next"`
	}
	type rec struct {
		U       [16]byte `avro:"u"`
		Either  any      `avro:"either"`
		Other   any      `avro:"other"`
		Chain   node     `avro:"chain"`
		Renamed int      `avro:"renamed"`
		Unit    any      `avro:"unit"`
	}
	p := avrotest.MustMarshal(t, w, rec{
		U:      [16]byte{0x12, 0x3e, 0x45, 0x67, 0xe8, 0x9b, 0x12, 0xd3, 0xa4, 0x56, 0x42, 0x66, 0x14, 0x17, 0x40, 0x00},
		Either: "text", Other: int64(42),
		Chain:   node{N: 1, Next: &node{N: 2, Next: &node{N: 3}}},
		Renamed: 9,
	})
	for _, expr := range []string{
		"value.u == '123e4567-e89b-12d3-a456-426614174000'",
		"value.either == 'text' && value.other == 42",
		"value.chain.next.next.n == 3 && !has(value.chain.next.next.next)",
		"value.chain.next.n == 2 && value.chain.next.next.next == null",
		"value.chain == {'n': 1, 'next': {'n': 2, 'next': {'n': 3, 'next': null}}}",
		"value.old_name == 9 && value.renamed == 9 && has(value.old_name)",
		"value.unit == null && !has(value.unit)",
	} {
		ev := mustRuleEvaluator(t, w, ruleOf(expr))
		if failed, err := ev.Eval(p, nil, nil); failed != "" || err != nil {
			t.Errorf("%s: failed = %q, err = %v; want it to pass", expr, failed, err)
		}
	}
}

func TestRulesEvalHas(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	full, sparse := avrotest.MustMarshal(t, w, avrotest.FullEvent()), avrotest.MustMarshal(t, w, avrotest.SparseEvent())
	cases := []struct {
		expr         string
		full, sparse bool // the result of expr on each record
	}{
		{"has(value.nick)", true, false},
		{"has(value.name)", true, true},
		{"has(value.not_in_writer)", false, false},
		{"has(value.maybe_addr)", true, false},
		{"has(value.maybe_addr.street)", true, false}, // has() on a null record is false, not an error
		{"has(value.maybe_addr.zip)", false, false},
		{"has(value.address.zip)", true, false},
		{"has(value.address.nope)", false, false},
		{"has(value.attrs.k)", true, false},
		{"has(value.address) && has(value.address.street)", true, true},
		// Read whole and lazily at once: the answers must agree.
		{"has(value.maybe_addr.zip) == (value.maybe_addr != null && value.maybe_addr.zip != null)", true, true},
		{"has(value.nick) == (value.nick != null) && size(value) > 0", true, true},
	}
	for _, tc := range cases {
		ev := mustRuleEvaluator(t, w, ruleOf(tc.expr))
		for _, c := range []struct {
			label   string
			payload []byte
			want    bool
		}{{"full", full, tc.full}, {"sparse", sparse, tc.sparse}} {
			failed, err := ev.Eval(c.payload, nil, nil)
			if err != nil {
				t.Errorf("%s on %s: %v", tc.expr, c.label, err)
				continue
			}
			if got := failed == ""; got != c.want {
				t.Errorf("%s on %s = %v, want %v", tc.expr, c.label, got, c.want)
			}
		}
	}
}

// TestRulesEvalFirstFailure pins declaration order: the second rule fails,
// and the third, which would error, is never evaluated.
func TestRulesEvalFirstFailure(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	p := avrotest.MustMarshal(t, w, avrotest.FullEvent())
	ev := mustRuleEvaluator(t, w,
		Rule{"negative_age", "value.age < 0"},
		Rule{"named_x", "value.name == 'x'"},
		Rule{"errors", "value.not_in_writer == 1"},
		Rule{"also_fails", "false"},
	)
	failed, err := ev.Eval(p, nil, nil)
	if failed != "named_x" || err != nil {
		t.Errorf("failed = %q, err = %v; want named_x and no error", failed, err)
	}
	ev = mustRuleEvaluator(t, w, Rule{"a", "true"}, Rule{"b", "value.age < 0"})
	if failed, err := ev.Eval(p, nil, nil); failed != "" || err != nil {
		t.Errorf("all pass: failed = %q, err = %v", failed, err)
	}
}

func TestRulesEvalRuntimeError(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	full, sparse := avrotest.MustMarshal(t, w, avrotest.FullEvent()), avrotest.MustMarshal(t, w, avrotest.SparseEvent())
	cases := []struct {
		name, expr string
		payload    []byte
		wantErr    string
	}{
		{"field the writer lacks", "value.duration_ms > 0", full, "no such key: duration_ms"},
		{"type mismatch", "value.name > 0", full, "no such overload"},
		{"method on null", "value.nick.startsWith('n')", sparse, "no such overload"},
		{"field of null", "value.maybe_addr.street == ''", sparse, "no such key"},
		{"failed conversion", "int(value.name) > 0", full, "type conversion error from 'string' to 'int'"},
		{"index out of range", "value.tags[7] == 'a'", full, "index out of bounds: 7"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := mustRuleEvaluator(t, w, Rule{"ok", "true"}, Rule{"broken", tc.expr}, Rule{"later", "false"})
			failed, err := ev.Eval(tc.payload, nil, nil)
			if failed != "broken" {
				t.Errorf("failed = %q, want broken", failed)
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), `rule "broken": `) {
				t.Errorf("err = %v, want `rule \"broken\": ...%s...`", err, tc.wantErr)
			}
			if errors.Is(err, schema.ErrMalformed) {
				t.Errorf("err = %v wraps ErrMalformed; the payload is fine", err)
			}
		})
	}
}

func TestRulesEvalMetadata(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	p := avrotest.MustMarshal(t, w, avrotest.FullEvent())
	meta := &schema.Meta{Topic: "tracks", Partition: 3, Offset: 1 << 40, Timestamp: time.UnixMilli(1_700_000_000_123), Key: []byte("k1")}
	headers := []schema.Header{{Key: "trace", Value: []byte("t1")}, {Key: "source", Value: []byte("ingest")}, {Key: "trace", Value: []byte("t2")}, {Key: "empty", Value: nil}}
	cases := []struct {
		expr    string
		meta    *schema.Meta
		headers []schema.Header
	}{
		{"topic == 'tracks' && partition == 3 && offset == 1099511627776", meta, nil},
		{"timestamp == timestamp('2023-11-14T22:13:20.123Z')", meta, nil},
		{"key == b'k1' && size(key) == 2", meta, nil},
		{"key == null", &schema.Meta{Topic: "t"}, nil},
		{"key == b''", &schema.Meta{Key: []byte{}}, nil},
		{"headers.trace == b't2' && headers['source'] == b'ingest'", meta, headers}, // the last of repeated keys wins
		{"'empty' in headers && headers.empty == b'' && !('nope' in headers) && !has(headers.nope)", meta, headers},
		{"size(headers) == 3 && headers.all(k, k != '') && headers == {'trace': b't2', 'source': b'ingest', 'empty': b''}", meta, headers},
		{"size(headers) == 0", meta, nil},
		{"topic == '' && partition == 0 && offset == 0 && key == null", nil, nil}, // nil meta reads as zero
		{"topic == 'tracks' && value.id > 0", meta, nil},
	}
	for _, tc := range cases {
		ev := mustRuleEvaluator(t, w, ruleOf(tc.expr))
		// Twice: the evaluator's per-record state must not leak into the
		// next record, and the cached topic must follow the topic.
		for range 2 {
			if failed, err := ev.Eval(p, tc.meta, tc.headers); failed != "" || err != nil {
				t.Errorf("%s: failed = %q, err = %v; want it to pass", tc.expr, failed, err)
			}
		}
	}
	ev := mustRuleEvaluator(t, w, ruleOf("topic == 'a'"))
	for _, c := range []struct {
		topic string
		pass  bool
	}{{"a", true}, {"b", false}, {"a", true}} {
		failed, err := ev.Eval(p, &schema.Meta{Topic: c.topic}, nil)
		if err != nil || (failed == "") != c.pass {
			t.Errorf("topic %q: failed = %q, err = %v; want pass %v", c.topic, failed, err, c.pass)
		}
	}
}

// TestRulesEvalNoValueRead pins that rules over metadata alone do not read
// the payload at all, so even an empty one passes.
func TestRulesEvalNoValueRead(t *testing.T) {
	ev := mustRuleEvaluator(t, avrotest.MustParse(t, avrotest.RichSchema), ruleOf("partition >= 0"), Rule{"x", "[1].all(value, value == 1)"})
	if failed, err := ev.Eval(nil, &schema.Meta{}, nil); failed != "" || err != nil {
		t.Errorf("failed = %q, err = %v", failed, err)
	}
}

func TestRulesEvalMalformed(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	full := avrotest.MustMarshal(t, w, avrotest.FullEvent())
	last := mustRuleEvaluator(t, w, ruleOf("size(value.items) > 0")) // the last field: every byte is read
	whole := mustRuleEvaluator(t, w, ruleOf("size(value) > 0"))
	first := mustRuleEvaluator(t, w, ruleOf("value.id > 0")) // the first field: the read stops after it
	for n := range len(full) {
		for _, ev := range []*RuleEvaluator{last, whole} {
			failed, err := ev.Eval(full[:n], nil, nil)
			if failed != "" || !errors.Is(err, schema.ErrMalformed) {
				t.Fatalf("cut at %d/%d: failed = %q, err = %v; want ErrMalformed", n, len(full), failed, err)
			}
		}
	}
	// Bytes past the last field read are not looked at.
	if failed, err := first.Eval(full[:6], nil, nil); failed != "" || err != nil {
		t.Errorf("first field only: failed = %q, err = %v", failed, err)
	}
	ints := avrotest.MustParse(t, `{"type":"record","name":"R","fields":[
		{"name":"s","type":["null","string"]},
		{"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}},
		{"name":"nulls","type":{"type":"array","items":"null"}},
		{"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":38,"scale":2}},
		{"name":"t","type":"long"}]}`)
	bomb := []byte{0, 0}
	for range 3000 {
		bomb = append(bomb, 0xa0, 0x1f) // a block of 2000 nulls, in 2 bytes
	}
	cases := []struct {
		name    string
		payload []byte
		why     string
	}{
		{"union index", []byte{4}, avrobin.WhyUnion},
		{"invalid utf8", []byte{2, 2, 0xff}, avrobin.WhyUTF8},
		{"enum index", []byte{0, 2}, avrobin.WhyEnum},
		{"zero-size items", bomb, whyItems},
		{"decimal beyond 128 bits", append([]byte{0, 0, 0, 34, 1}, make([]byte, 16)...), avrobin.WhyDecimal},
		{"overlong varint", append([]byte{0, 0, 0, 0}, bytes.Repeat([]byte{0xff}, 11)...), avrobin.WhyVarint},
	}
	ev := mustRuleEvaluator(t, ints, ruleOf("value.t > 0 && has(value.s) && has(value.d)"))
	for _, tc := range cases {
		failed, err := ev.Eval(tc.payload, nil, nil)
		if failed != "" || !errors.Is(err, schema.ErrMalformed) || !strings.Contains(err.Error(), tc.why) {
			t.Errorf("%s: failed = %q, err = %v; want ErrMalformed: %s", tc.name, failed, err, tc.why)
		}
	}
	// Of a value no rule reads only the structure is checked: invalid
	// UTF-8 and a too-wide decimal are stepped over.
	unread := mustRuleEvaluator(t, ints, ruleOf("value.t == 1"))
	p := append([]byte{2, 2, 0xff, 0, 0, 34, 1}, make([]byte, 16)...)
	if failed, err := unread.Eval(append(p, 2), nil, nil); failed != "" || err != nil {
		t.Errorf("bad content in unread fields: failed = %q, err = %v; want a pass", failed, err)
	}
}

// TestRulesBindPlansLazyReads pins the shape of the plan: fields the rules
// only select into are read lazily, the rest whole, and nothing else.
func TestRulesBindPlansLazyReads(t *testing.T) {
	w := avrotest.MustParse(t, avrotest.RichSchema)
	ev := mustRuleEvaluator(t, w,
		Rule{"a", "value.address.zip > 0 && has(value.maybe_addr.street)"},
		Rule{"b", "value.tags.exists(x, x == 'a') && value['nick'] != null"},
		Rule{"c", "has(value.not_in_writer) || value.attrs.k == 'v'"},
	)
	if ev.whole != nil || ev.plan == nil {
		t.Fatalf("value is read whole, want lazily")
	}
	type slot struct {
		name    string
		missing bool
		sub     []string // the fields read lazily below it
	}
	var got []slot
	for _, s := range ev.plan.rec.slots {
		g := slot{name: s.names[0], missing: s.missing}
		if s.sub != nil {
			for _, ss := range s.sub.rec.slots {
				g.sub = append(g.sub, ss.names[0])
			}
		}
		got = append(got, g)
	}
	want := []slot{
		{"address", false, []string{"zip"}},
		{"maybe_addr", false, []string{"street"}},
		{"tags", false, nil},
		{"nick", false, nil},
		{"attrs", false, nil}, // a map: read whole, CEL selects the key
		{"not_in_writer", true, nil},
	}
	if len(got) != len(want) {
		t.Fatalf("slots = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].name != want[i].name || got[i].missing != want[i].missing || strings.Join(got[i].sub, ",") != strings.Join(want[i].sub, ",") {
			t.Errorf("slot %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// attrs is writer field 25 of 28: the read stops after it.
	if ev.plan.last != 25 {
		t.Errorf("last field read = %d, want 25", ev.plan.last)
	}
}
