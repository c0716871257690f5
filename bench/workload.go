package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/bigfather/bigfather/ingest/transform"
	"github.com/bigfather/bigfather/internal/music"
)

// Workload is a kind of record the harness loads into Kafka before timing
// starts.
type Workload struct {
	Name string
	// What describes the records, for reports.
	What string
	// Schema is the Avro writer schema registered for the topic's values.
	Schema string
	newGen func(seed int64) generator
}

// generator appends one record's Avro payload (no wire header) and its
// Kafka key. Generators are deterministic for a seed and not safe for
// concurrent use.
type generator interface {
	next(val, key []byte) ([]byte, []byte, error)
}

var workloads = map[string]Workload{
	"tracks": {
		Name:   "tracks",
		What:   "music catalog tracks (internal/music): nested records, arrays, enums, decimal, date and timestamps; ~205 B of Avro and a 36 B key",
		Schema: music.TrackSchema(),
		newGen: func(seed int64) generator { return &trackGen{g: music.NewGenerator(seed)} },
	},
	"small": {
		Name:   "small",
		What:   "flat clickstream events: 11 fields (uuid, longs, enum, strings, nullable, timestamp-millis); ~250 B of Avro and a 36 B key",
		Schema: recordSchema("Event", "com.bigfather.bench", "A clickstream event.", smallFields),
		newGen: func(seed int64) generator { return newSmallGen(seed) },
	},
	"wide": {
		Name:   "wide",
		What:   "wide metrics rows: 40 flat fields (10 long, 10 double, 5 boolean, 10 string, 3 timestamp, 2 nullable); ~1 KB of Avro",
		Schema: recordSchema("WideRow", "com.bigfather.bench", "A wide row of metrics and attributes.", wideFields),
		newGen: func(seed int64) generator { return newWideGen(seed) },
	},
}

// Workloads returns the workload names, sorted.
func Workloads() []string {
	names := make([]string, 0, len(workloads))
	for n := range workloads {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// LookupWorkload returns the named workload.
func LookupWorkload(name string) (Workload, bool) {
	w, ok := workloads[name]
	return w, ok
}

type trackGen struct{ g *music.Generator }

func (t *trackGen) next(val, key []byte) ([]byte, []byte, error) {
	val, err := t.g.Next(val)
	if err != nil {
		return val, key, err
	}
	return val, append(key, t.g.LastTrackID()...), nil
}

var smallFields = []fieldSpec{
	{name: "event_id", kind: kindUUID},
	{name: "user_id", kind: kindLong},
	{name: "session_id", kind: kindString},
	{name: "event_type", kind: kindEnum, symbols: []string{"view", "click", "add_to_cart", "purchase", "search", "logout"}},
	{name: "page_url", kind: kindString},
	{name: "referrer", kind: kindNullString},
	{name: "user_agent", kind: kindString},
	{name: "occurred_at", kind: kindTimestampMs},
	{name: "duration_ms", kind: kindInt},
	{name: "country", kind: kindNullString},
	{name: "amount", kind: kindNullDouble},
}

var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Edg/126.0",
}

var countryCodes = []string{"US", "GB", "DE", "FR", "BR", "IN", "JP", "CA", "AU", "NL", "SE", "ES", "IT", "MX", "KR"}

type smallGen struct {
	r       *rand.Rand
	n       int64
	at      int64 // unix millis of the last event
	scratch []byte
}

func newSmallGen(seed int64) *smallGen {
	return &smallGen{r: rand.New(rand.NewPCG(uint64(seed), 0x736d616c6c)), at: 1_750_000_000_000}
}

func (g *smallGen) next(val, key []byte) ([]byte, []byte, error) {
	r := g.r
	g.n++
	start := len(val)
	val = appendUUID(val, r)
	key = append(key, val[start+1:]...) // the uuid text, without its length
	val = transform.AppendAvroLong(val, 1+int64(r.ExpFloat64()*200_000))
	g.scratch = strconv.AppendInt(append(g.scratch[:0], "sess-"...), int64(r.Uint32()), 36)
	val = appendBytesAsString(val, g.scratch)
	ev := r.IntN(100)
	typ := 0 // view
	switch {
	case ev >= 97:
		typ = 3 // purchase
	case ev >= 90:
		typ = 2
	case ev >= 80:
		typ = 4
	case ev >= 50:
		typ = 1
	case ev == 0:
		typ = 5
	}
	val = transform.AppendAvroLong(val, int64(typ))
	s := append(g.scratch[:0], "https://shop.example.com/"...)
	s = append(s, words[r.IntN(len(words))]...)
	s = append(s, '/')
	s = append(s, words[r.IntN(len(words))]...)
	s = append(s, '-')
	s = append(s, words[r.IntN(len(words))]...)
	s = append(s, "/p/"...)
	s = appendDigits(s, 100_000+int64(r.IntN(900_000)))
	val = appendBytesAsString(val, s)
	if r.IntN(100) < 60 {
		val = transform.AppendAvroLong(val, 1)
		s = append(s[:0], "https://"...)
		s = append(s, words[r.IntN(len(words))]...)
		s = append(s, ".example.org/search?q="...)
		s = append(s, words[r.IntN(len(words))]...)
		s = append(s, '+')
		s = append(s, words[r.IntN(len(words))]...)
		val = appendBytesAsString(val, s)
	} else {
		val = transform.AppendAvroLong(val, 0)
	}
	g.scratch = s
	val = appendString(val, userAgents[r.IntN(len(userAgents))])
	g.at += int64(r.IntN(15))
	val = transform.AppendAvroLong(val, g.at)
	val = transform.AppendAvroLong(val, int64(r.IntN(30_000)))
	if r.IntN(100) < 90 {
		val = appendString(transform.AppendAvroLong(val, 1), countryCodes[r.IntN(len(countryCodes))])
	} else {
		val = transform.AppendAvroLong(val, 0)
	}
	if typ == 3 {
		val = appendDouble(transform.AppendAvroLong(val, 1), float64(100+r.IntN(50_000))/100)
	} else {
		val = transform.AppendAvroLong(val, 0)
	}
	return val, key, nil
}

// wideFields are 10 longs, 10 doubles, 5 booleans, 10 strings, 3
// timestamps and 2 nullable strings: 40 fields, about 1 KB encoded.
var wideFields = func() []fieldSpec {
	var fs []fieldSpec
	add := func(prefix string, n int, k fieldKind) {
		for i := range n {
			fs = append(fs, fieldSpec{name: fmt.Sprintf("%s_%02d", prefix, i), kind: k})
		}
	}
	add("counter", 10, kindLong)
	add("gauge", 10, kindDouble)
	add("flag", 5, kindBool)
	add("attr", 10, kindString)
	add("ts", 3, kindTimestampUs)
	add("note", 2, kindNullString)
	return fs
}()

type wideGen struct {
	r       *rand.Rand
	n       int64
	at      int64 // unix micros
	scratch []byte
}

func newWideGen(seed int64) *wideGen {
	return &wideGen{r: rand.New(rand.NewPCG(uint64(seed), 0x77696465)), at: 1_750_000_000_000_000}
}

func (g *wideGen) next(val, key []byte) ([]byte, []byte, error) {
	r := g.r
	g.n++
	key = strconv.AppendInt(append(key, "row-"...), g.n, 10)
	for _, f := range wideFields {
		switch f.kind {
		case kindLong:
			val = transform.AppendAvroLong(val, int64(r.ExpFloat64()*10_000))
		case kindDouble:
			val = appendDouble(val, math.Round(r.NormFloat64()*1_000)/100)
		case kindBool:
			val = appendBool(val, r.IntN(4) == 0)
		case kindString:
			val, g.scratch = appendWords(val, r, 11+r.IntN(3), ' ', g.scratch)
		case kindTimestampUs:
			g.at += int64(r.IntN(2_000))
			val = transform.AppendAvroLong(val, g.at)
		case kindNullString:
			if r.IntN(2) == 0 {
				val = transform.AppendAvroLong(val, 0)
				continue
			}
			val = transform.AppendAvroLong(val, 1)
			val, g.scratch = appendWords(val, r, 5+r.IntN(3), ' ', g.scratch)
		}
	}
	return val, key, nil
}

// loaded describes the data a run put into Kafka.
type loaded struct {
	topic      string
	schemaID   int
	partitions int32
	// ends are the log end offsets per partition after loading: every
	// stage consumes [0, end) of each partition.
	ends       map[int32]int64
	records    int64
	kafkaBytes int64 // keys plus values
	wall       time.Duration
}

func (l *loaded) totalOffsets() int64 {
	var n int64
	for _, e := range l.ends {
		n += e
	}
	return n
}

// registerSchema registers wl's schema under topic-value and returns its
// id.
func registerSchema(ctx context.Context, registryURL, topic string, wl Workload) (int32, error) {
	rcl, err := sr.NewClient(sr.URLs(registryURL))
	if err != nil {
		return 0, fmt.Errorf("registry client: %w", err)
	}
	ss, err := rcl.CreateSchema(ctx, topic+"-value", sr.Schema{Schema: wl.Schema, Type: sr.TypeAvro})
	if err != nil {
		return 0, fmt.Errorf("register %s-value: %w", topic, err)
	}
	if ss.ID <= 0 || ss.ID > math.MaxInt32 {
		return 0, fmt.Errorf("register %s-value: registry returned id %d", topic, ss.ID)
	}
	return int32(ss.ID), nil
}

// load registers wl's schema under topic-value and produces n records over
// the topic's partitions (round robin, acks=all, batched), waiting until
// every record is acknowledged.
func load(ctx context.Context, brokers []string, registryURL, topic string, partitions int32, wl Workload, n, seed int64, prog *progress) (*loaded, error) {
	schemaID, err := registerSchema(ctx, registryURL, topic, wl)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(50_000),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	start := time.Now()
	gen := wl.newGen(seed)
	var (
		acked    atomic.Int64
		errOnce  sync.Once
		firstErr error
		bytes    int64
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			errOnce.Do(func() { firstErr = err })
			return
		}
		acked.Add(1)
	}
	id := schemaID
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		val, key, err := gen.next(music.AppendWire(make([]byte, 0, 1280), id, nil), nil)
		if err != nil {
			return nil, fmt.Errorf("generate record %d: %w", i, err)
		}
		bytes += int64(len(key) + len(val))
		cl.Produce(ctx, &kgo.Record{Key: key, Value: val, Partition: int32(i % int64(partitions))}, promise)
		if i%4096 == 0 {
			prog.update("load", acked.Load(), n, "")
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, fmt.Errorf("wait for acks: %w", err)
	}
	if firstErr != nil {
		return nil, fmt.Errorf("produce to %s: %w", topic, firstErr)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	wall := time.Since(start)
	prog.update("load", acked.Load(), n, "")

	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	l := &loaded{topic: topic, schemaID: int(schemaID), partitions: partitions, ends: map[int32]int64{},
		records: acked.Load(), kafkaBytes: bytes, wall: wall}
	var lerr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			lerr = errors.Join(lerr, fmt.Errorf("end offset of %s/%d: %w", o.Topic, o.Partition, o.Err))
		}
		l.ends[o.Partition] = o.Offset
	})
	if lerr != nil {
		return nil, lerr
	}
	if got := l.totalOffsets(); got != n || l.records != n {
		return nil, fmt.Errorf("topic %s holds %d offsets and %d records were acknowledged, want %d: is the topic new?", topic, got, l.records, n)
	}
	return l, nil
}
