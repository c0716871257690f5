package table

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/extensions"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	icebergtable "github.com/apache/iceberg-go/table"
	"github.com/google/uuid"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
	_ "modernc.org/sqlite"
)

// Field IDs of dfTestSchema.
const (
	fidID = iota + 1
	fidName
	fidCount
	fidScore
	fidActive
	fidTS
	fidDay
	fidAmount
	fidUID
	fidPayload
	fidAddr
	fidCity
	fidZip
	fidTags
	fidTag
)

func dfTestSchema() *iceberg.Schema {
	return iceberg.NewSchema(0,
		iceberg.NestedField{ID: fidID, Name: "id", Type: iceberg.PrimitiveTypes.Int64, Required: true},
		iceberg.NestedField{ID: fidName, Name: "name", Type: iceberg.PrimitiveTypes.String},
		iceberg.NestedField{ID: fidCount, Name: "count", Type: iceberg.PrimitiveTypes.Int32},
		iceberg.NestedField{ID: fidScore, Name: "score", Type: iceberg.PrimitiveTypes.Float64},
		iceberg.NestedField{ID: fidActive, Name: "active", Type: iceberg.PrimitiveTypes.Bool, Required: true},
		iceberg.NestedField{ID: fidTS, Name: "ts", Type: iceberg.PrimitiveTypes.TimestampTz},
		iceberg.NestedField{ID: fidDay, Name: "day", Type: iceberg.PrimitiveTypes.Date},
		iceberg.NestedField{ID: fidAmount, Name: "amount", Type: iceberg.DecimalTypeOf(12, 2)},
		iceberg.NestedField{ID: fidUID, Name: "uid", Type: iceberg.PrimitiveTypes.UUID},
		iceberg.NestedField{ID: fidPayload, Name: "payload", Type: iceberg.PrimitiveTypes.Binary},
		iceberg.NestedField{ID: fidAddr, Name: "addr", Type: &iceberg.StructType{FieldList: []iceberg.NestedField{
			{ID: fidCity, Name: "city", Type: iceberg.PrimitiveTypes.String},
			{ID: fidZip, Name: "zip", Type: iceberg.PrimitiveTypes.Int32, Required: true},
		}}},
		iceberg.NestedField{ID: fidTags, Name: "tags", Type: &iceberg.ListType{
			ElementID: fidTag, Element: iceberg.PrimitiveTypes.String, ElementRequired: false,
		}},
	)
}

// dfRow is one input row; nil pointers are nulls.
type dfRow struct {
	id      int64
	name    *string
	count   *int32
	score   *float64
	active  bool
	ts      *int64 // micros since epoch
	day     *int32
	amount  *int64 // unscaled, scale 2
	uid     *uuid.UUID
	payload []byte // nil is null
	addr    *dfAddr
	tags    []*string // nil slice is a null list
}

type dfAddr struct {
	city *string
	zip  int32
}

func dfPtr[T any](v T) *T { return &v }

func dfRows(n int, seed uint64) []dfRow {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	alphabet := []rune("abcxyzé€😀\U0010FFFF")
	cities := []string{"Berlin", "Zürich", "東京", "Lagos", "Lima"}
	randString := func(maxRunes int) string {
		var sb strings.Builder
		for range rng.IntN(maxRunes + 1) {
			sb.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return sb.String()
	}
	rows := make([]dfRow, n)
	for i := range rows {
		r := dfRow{id: rng.Int64N(1_000_000) - 500_000, active: rng.IntN(3) == 0}
		if i%7 != 0 {
			r.name = dfPtr(randString(30))
		}
		if i%5 != 0 {
			r.count = dfPtr(rng.Int32N(2000) - 1000)
		}
		if i%9 != 0 {
			r.score = dfPtr(rng.NormFloat64() * 100)
		}
		if i%11 != 0 {
			r.ts = dfPtr(int64(1_704_067_200_000_000) + rng.Int64N(1_000_000_000_000))
		}
		if i%13 != 0 {
			r.day = dfPtr(19_000 + rng.Int32N(1000))
		}
		if i%6 != 0 {
			r.amount = dfPtr(rng.Int64N(2_000_000_000) - 1_000_000_000)
		}
		if i%8 != 0 {
			var u uuid.UUID
			for j := range u {
				u[j] = byte(rng.Uint32())
			}
			r.uid = &u
		}
		if i%10 != 0 {
			r.payload = make([]byte, rng.IntN(41))
			for j := range r.payload {
				r.payload[j] = byte(rng.Uint32())
			}
		}
		if i%4 != 0 {
			r.addr = &dfAddr{zip: rng.Int32N(99_999)}
			if i%3 != 0 {
				r.addr.city = dfPtr(cities[rng.IntN(len(cities))])
			}
		}
		if i%12 != 0 {
			r.tags = make([]*string, rng.IntN(4))
			for j := range r.tags {
				if rng.IntN(10) != 0 {
					r.tags[j] = dfPtr(randString(5))
				}
			}
		}
		rows[i] = r
	}
	return rows
}

// dfRecord builds one record batch of rows with the writer's Arrow schema.
func dfRecord(t testing.TB, sc *arrow.Schema, rows []dfRow) arrow.RecordBatch {
	t.Helper()
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	id := b.Field(0).(*array.Int64Builder)
	name := b.Field(1).(*array.StringBuilder)
	count := b.Field(2).(*array.Int32Builder)
	score := b.Field(3).(*array.Float64Builder)
	active := b.Field(4).(*array.BooleanBuilder)
	ts := b.Field(5).(*array.TimestampBuilder)
	day := b.Field(6).(*array.Date32Builder)
	amount := b.Field(7).(*array.Decimal128Builder)
	uid := b.Field(8).(*extensions.UUIDBuilder)
	payload := b.Field(9).(*array.BinaryBuilder)
	addr := b.Field(10).(*array.StructBuilder)
	city := addr.FieldBuilder(0).(*array.StringBuilder)
	zip := addr.FieldBuilder(1).(*array.Int32Builder)
	tags := b.Field(11).(*array.ListBuilder)
	tag := tags.ValueBuilder().(*array.StringBuilder)
	appendOpt := func(ok bool, app func(), null func()) {
		if ok {
			app()
		} else {
			null()
		}
	}
	for _, r := range rows {
		id.Append(r.id)
		appendOpt(r.name != nil, func() { name.Append(*r.name) }, name.AppendNull)
		appendOpt(r.count != nil, func() { count.Append(*r.count) }, count.AppendNull)
		appendOpt(r.score != nil, func() { score.Append(*r.score) }, score.AppendNull)
		active.Append(r.active)
		appendOpt(r.ts != nil, func() { ts.Append(arrow.Timestamp(*r.ts)) }, ts.AppendNull)
		appendOpt(r.day != nil, func() { day.Append(arrow.Date32(*r.day)) }, day.AppendNull)
		appendOpt(r.amount != nil, func() { amount.Append(decimal128.FromI64(*r.amount)) }, amount.AppendNull)
		appendOpt(r.uid != nil, func() { uid.Append(*r.uid) }, uid.AppendNull)
		appendOpt(r.payload != nil, func() { payload.Append(r.payload) }, payload.AppendNull)
		if r.addr != nil {
			addr.Append(true)
			appendOpt(r.addr.city != nil, func() { city.Append(*r.addr.city) }, city.AppendNull)
			zip.Append(r.addr.zip)
		} else {
			addr.AppendNull()
		}
		if r.tags != nil {
			tags.Append(true)
			for _, s := range r.tags {
				appendOpt(s != nil, func() { tag.Append(*s) }, tag.AppendNull)
			}
		} else {
			tags.AppendNull()
		}
	}
	return b.NewRecordBatch()
}

// dfWrite writes rows in batches of the given sizes and closes the writer.
func dfWrite(t testing.TB, out io.Writer, sch *iceberg.Schema, opts DataFileOptions, rows []dfRow, batches []int) *DataFileWriter {
	t.Helper()
	w, err := NewDataFileWriter(out, sch, opts)
	if err != nil {
		t.Fatalf("NewDataFileWriter: %v", err)
	}
	off := 0
	for _, n := range batches {
		rec := dfRecord(t, w.ArrowSchema(), rows[off:off+n])
		if err := w.Write(rec); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rec.Release()
		off += n
		// At most about one row group is held in memory.
		if got, limit := w.BufferedBytes(), 2*opts.RowGroupBytes; got > limit {
			t.Fatalf("BufferedBytes %d after %d rows, want <= %d", got, off, limit)
		}
	}
	if off != len(rows) {
		t.Fatalf("batches cover %d of %d rows", off, len(rows))
	}
	if w.Rows() != int64(len(rows)) {
		t.Fatalf("Rows() = %d, want %d", w.Rows(), len(rows))
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return w
}

func dfSmallRowGroups() DataFileOptions {
	o := DefaultDataFileOptions()
	o.RowGroupBytes = 128 << 10
	o.PageBytes = 8 << 10
	return o
}

// dfMinMax is the true [min, max] of vals.
func dfMinMax[T any](vals []T, c func(a, b T) int) [2]any {
	return [2]any{slices.MinFunc(vals, c), slices.MaxFunc(vals, c)}
}

func TestDataFileWriterParquetAndStats(t *testing.T) {
	const n = 5000
	sch := dfTestSchema()
	rows := dfRows(n, 1)
	var buf bytes.Buffer
	opts := dfSmallRowGroups()
	w := dfWrite(t, &buf, sch, opts, rows, []int{1, 499, 1500, 3000})

	if w.BytesWritten() != int64(buf.Len()) {
		t.Fatalf("BytesWritten %d, buffer holds %d", w.BytesWritten(), buf.Len())
	}
	if w.BufferedBytes() != 0 {
		t.Fatalf("BufferedBytes after Close = %d", w.BufferedBytes())
	}

	t.Run("parquet-go reads it", func(t *testing.T) { dfCheckWithParquetGo(t, buf.Bytes(), rows) })

	df, err := w.DataFile("file:///tmp/x.parquet", *iceberg.UnpartitionedSpec, nil)
	if err != nil {
		t.Fatalf("DataFile: %v", err)
	}
	if df.Count() != n || df.FileSizeBytes() != int64(buf.Len()) || df.FileFormat() != iceberg.ParquetFile {
		t.Fatalf("count %d size %d format %s", df.Count(), df.FileSizeBytes(), df.FileFormat())
	}
	if got := len(df.SplitOffsets()); got < 2 {
		t.Fatalf("split offsets %v, want one per row group (>1)", df.SplitOffsets())
	}

	// Counts.
	nulls := map[int]int64{}
	tagValues := int64(0)
	for _, r := range rows {
		count := func(id int, null bool) {
			if null {
				nulls[id]++
			}
		}
		count(fidName, r.name == nil)
		count(fidCount, r.count == nil)
		count(fidScore, r.score == nil)
		count(fidTS, r.ts == nil)
		count(fidDay, r.day == nil)
		count(fidAmount, r.amount == nil)
		count(fidUID, r.uid == nil)
		count(fidPayload, r.payload == nil)
		count(fidCity, r.addr == nil || r.addr.city == nil)
		count(fidZip, r.addr == nil)
		// A list leaf has one level entry per element, or one for a
		// null/empty list; all but present elements are nulls.
		if len(r.tags) == 0 {
			tagValues++
			nulls[fidTag]++
		}
		for _, s := range r.tags {
			tagValues++
			count(fidTag, s == nil)
		}
	}
	for _, id := range []int{fidID, fidName, fidCount, fidScore, fidActive, fidTS, fidDay, fidAmount, fidUID, fidPayload, fidCity, fidZip, fidTag} {
		wantValues := int64(n)
		if id == fidTag {
			wantValues = tagValues
		}
		if got := df.ValueCounts()[id]; got != wantValues {
			t.Errorf("value count of field %d = %d, want %d", id, got, wantValues)
		}
		if got, ok := df.NullValueCounts()[id]; !ok || got != nulls[id] {
			t.Errorf("null count of field %d = %d (present %v), want %d", id, got, ok, nulls[id])
		}
		if df.ColumnSizes()[id] <= 0 {
			t.Errorf("column size of field %d = %d", id, df.ColumnSizes()[id])
		}
	}
	if _, ok := df.LowerBoundValues()[fidTag]; ok {
		t.Errorf("list element has a lower bound; bounds are only kept for non-repeated leaves")
	}

	dfCheckBounds(t, sch, df, rows, opts.StatsTruncate)
}

// dfCheckBounds compares every bound with the true min/max of the input.
func dfCheckBounds(t *testing.T, sch *iceberg.Schema, df iceberg.DataFile, rows []dfRow, trunc int) {
	t.Helper()
	var (
		ids, tss, amounts []int64
		counts, days, zip []int32
		scores            []float64
		actives           []bool
		names, cities     []string
		uids, payloads    [][]byte
	)
	for _, r := range rows {
		ids, actives = append(ids, r.id), append(actives, r.active)
		if r.name != nil {
			names = append(names, *r.name)
		}
		if r.count != nil {
			counts = append(counts, *r.count)
		}
		if r.score != nil {
			scores = append(scores, *r.score)
		}
		if r.ts != nil {
			tss = append(tss, *r.ts)
		}
		if r.day != nil {
			days = append(days, *r.day)
		}
		if r.amount != nil {
			amounts = append(amounts, *r.amount)
		}
		if r.uid != nil {
			uids = append(uids, r.uid[:])
		}
		if r.payload != nil {
			payloads = append(payloads, r.payload)
		}
		if r.addr != nil {
			zip = append(zip, r.addr.zip)
			if r.addr.city != nil {
				cities = append(cities, *r.addr.city)
			}
		}
	}
	cmpBool := func(a, b bool) int { return cmp.Compare(dfBtoi(a), dfBtoi(b)) }
	want := map[int][2]any{
		fidID: dfMinMax(ids, cmp.Compare), fidCount: dfMinMax(counts, cmp.Compare),
		fidScore: dfMinMax(scores, cmp.Compare), fidActive: dfMinMax(actives, cmpBool),
		fidTS: dfMinMax(tss, cmp.Compare), fidDay: dfMinMax(days, cmp.Compare),
		fidAmount: dfMinMax(amounts, cmp.Compare), fidUID: dfMinMax(uids, bytes.Compare),
		fidZip: dfMinMax(zip, cmp.Compare), fidCity: dfMinMax(cities, strings.Compare),
	}
	for fid, w := range want {
		for i, m := range []map[int][]byte{df.LowerBoundValues(), df.UpperBoundValues()} {
			if got := dfBoundValue(t, sch, fid, m); !dfEqual(got, w[i]) {
				t.Errorf("field %d bound %d = %v (%T), want %v (%T)", fid, i, got, got, w[i], w[i])
			}
		}
	}

	// The data holds empty strings and payloads: a zero-length lower bound
	// is omitted rather than written.
	nameMM, payMM := dfMinMax(names, strings.Compare), dfMinMax(payloads, bytes.Compare)
	if nameMM[0] != "" || len(payMM[0].([]byte)) != 0 {
		t.Fatalf("test data lost its empty values: %q %v", nameMM[0], payMM[0])
	}
	for _, fid := range []int{fidName, fidPayload} {
		if b, ok := df.LowerBoundValues()[fid]; ok {
			t.Errorf("field %d has lower bound %q, want none for an empty min", fid, b)
		}
	}
	// Truncated upper bounds are short and still >= the max.
	dfCheckTruncatedUpper(t, "name", []byte(dfBoundValue(t, sch, fidName, df.UpperBoundValues()).(string)),
		[]byte(nameMM[1].(string)), trunc, true)
	dfCheckTruncatedUpper(t, "payload", dfBoundValue(t, sch, fidPayload, df.UpperBoundValues()).([]byte),
		payMM[1].([]byte), trunc, false)
}

// dfBoundValue decodes a serialized bound into the Go type the test data uses.
func dfBoundValue(t *testing.T, sch *iceberg.Schema, fid int, m map[int][]byte) any {
	t.Helper()
	raw, ok := m[fid]
	if !ok {
		t.Fatalf("field %d has no bound", fid)
	}
	f, _ := sch.FindFieldByID(fid)
	l, err := iceberg.LiteralFromBytes(f.Type, raw)
	if err != nil {
		t.Fatalf("decode bound of field %d: %v", fid, err)
	}
	switch v := l.(type) {
	case iceberg.TimestampLiteral:
		return int64(v)
	case iceberg.DateLiteral:
		return int32(v)
	case iceberg.DecimalLiteral:
		if v.Scale != 2 || !decimal128.Num(v.Val).FitsInPrecision(18) {
			t.Fatalf("decimal bound %v scale %d", v.Val, v.Scale)
		}
		return int64(decimal128.Num(v.Val).LowBits())
	case iceberg.UUIDLiteral:
		u := uuid.UUID(v)
		return u[:]
	case iceberg.StringLiteral:
		return string(v)
	case iceberg.BinaryLiteral:
		return []byte(v)
	}
	return l.Any()
}

func dfCheckTruncatedUpper(t *testing.T, col string, upper, maxV []byte, trunc int, runes bool) {
	t.Helper()
	length := len(upper)
	if runes {
		length = utf8.RuneCount(upper)
	}
	if length > trunc {
		t.Errorf("%s upper bound %q longer than %d", col, upper, trunc)
	}
	maxLen := len(maxV)
	if runes {
		maxLen = utf8.RuneCount(maxV)
	}
	if c := bytes.Compare(upper, maxV); c < 0 || (c == 0 && maxLen > trunc) {
		t.Errorf("%s upper bound %q for max %q: not a rounded-up truncation", col, upper, maxV)
	}
}

func dfBtoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func dfEqual(a, b any) bool {
	if ab, ok := a.([]byte); ok {
		bb, ok := b.([]byte)
		return ok && bytes.Equal(ab, bb)
	}
	return a == b
}

// dfCheckWithParquetGo reads the file with a Parquet implementation we did not
// write with.
func dfCheckWithParquetGo(t *testing.T, data []byte, rows []dfRow) {
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("parquet-go open: %v", err)
	}
	if f.NumRows() != int64(len(rows)) {
		t.Fatalf("parquet-go rows %d, want %d", f.NumRows(), len(rows))
	}
	if len(f.RowGroups()) < 2 {
		t.Fatalf("%d row groups, want > 1", len(f.RowGroups()))
	}
	for i, rg := range f.Metadata().RowGroups {
		for _, c := range rg.Columns {
			if c.MetaData.Codec != format.Zstd {
				t.Fatalf("row group %d column %v codec %v, want zstd", i, c.MetaData.PathInSchema, c.MetaData.Codec)
			}
		}
	}
	wantIDs := map[string]int{
		"id": fidID, "name": fidName, "count": fidCount, "score": fidScore, "active": fidActive,
		"ts": fidTS, "day": fidDay, "amount": fidAmount, "uid": fidUID, "payload": fidPayload,
		"addr": fidAddr, "addr.city": fidCity, "addr.zip": fidZip, "tags": fidTags, "tags.list.element": fidTag,
	}
	gotIDs := map[string]int{}
	var walk func(prefix string, c *parquet.Column)
	walk = func(prefix string, c *parquet.Column) {
		for _, child := range c.Columns() {
			p := prefix + child.Name()
			if id := child.ID(); id != 0 {
				gotIDs[p] = id
			}
			walk(p+".", child)
		}
	}
	walk("", f.Root())
	for p, want := range wantIDs {
		if gotIDs[p] != want {
			t.Errorf("column %s field id %d, want %d", p, gotIDs[p], want)
		}
	}

	// The id column's values, read page by page, match the input.
	idCol := f.Root().Column("id")
	var wantSum, gotSum, gotN int64
	for _, r := range rows {
		wantSum += r.id
	}
	for _, rg := range f.RowGroups() {
		pages := rg.ColumnChunks()[idCol.Index()].Pages()
		for {
			p, err := pages.ReadPage()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("read page: %v", err)
			}
			vals := make([]parquet.Value, p.NumValues())
			if n, err := p.Values().ReadValues(vals); err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("read values: %v", err)
			} else {
				vals = vals[:n]
			}
			for _, v := range vals {
				gotSum += v.Int64()
				gotN++
			}
			parquet.Release(p)
		}
		if err := pages.Close(); err != nil {
			t.Fatalf("close pages: %v", err)
		}
	}
	if gotN != int64(len(rows)) || gotSum != wantSum {
		t.Fatalf("parquet-go read %d ids summing to %d, want %d summing to %d", gotN, gotSum, len(rows), wantSum)
	}
}

func TestDataFileEndToEndIcebergGo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir, "catalog.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := sqlcat.NewCatalog("test", db, sqlcat.SQLite, iceberg.Properties{
		"warehouse": "file://" + filepath.Join(dir, "warehouse"),
	})
	if err != nil {
		t.Fatalf("NewCatalog: %v", err)
	}
	if err := cat.CreateSQLTables(ctx); err != nil {
		t.Fatalf("CreateSQLTables: %v", err)
	}
	if err := cat.CreateNamespace(ctx, icebergtable.Identifier{"db"}, nil); err != nil {
		t.Fatalf("CreateNamespace: %v", err)
	}
	tbl, err := cat.CreateTable(ctx, icebergtable.Identifier{"db", "events"}, dfTestSchema())
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}

	// Write with the table's schema: the catalog may have reassigned IDs.
	rows := dfRows(3000, 2)
	location := tbl.Location() + "/data/00000-test.parquet"
	local := strings.TrimPrefix(location, "file://")
	if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Create(local)
	if err != nil {
		t.Fatal(err)
	}
	w := dfWrite(t, fh, tbl.Schema(), dfSmallRowGroups(), rows, []int{1000, 2000})
	if err := fh.Close(); err != nil {
		t.Fatal(err)
	}
	df, err := w.DataFile(location, tbl.Spec(), nil)
	if err != nil {
		t.Fatalf("DataFile: %v", err)
	}

	tx := tbl.NewTransaction()
	if err := tx.AddDataFiles(ctx, []iceberg.DataFile{df}, iceberg.Properties{"bigfather.commit-id": "test"}); err != nil {
		t.Fatalf("AddDataFiles: %v", err)
	}
	tbl, err = tx.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}

	got, err := tbl.Scan().ToArrowTable(ctx)
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	defer got.Release()
	if got.NumRows() != int64(len(rows)) {
		t.Fatalf("scan returned %d rows, want %d", got.NumRows(), len(rows))
	}
	// Every value of every column comes back, in file order.
	wantRec := dfRecord(t, w.ArrowSchema(), rows)
	defer wantRec.Release()
	for i, f := range wantRec.Schema().Fields() {
		idx := got.Schema().FieldIndices(f.Name)
		if len(idx) != 1 {
			t.Fatalf("scan schema %s lacks column %s", got.Schema(), f.Name)
		}
		col, err := array.Concatenate(got.Column(idx[0]).Data().Chunks(), memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		if !array.Equal(col, wantRec.Column(i)) {
			t.Errorf("column %s differs after the iceberg-go scan", f.Name)
		}
		col.Release()
	}

	// Pruning uses our bounds: filters outside the file's range plan nothing.
	maxID := int64(-1 << 62)
	minTS := int64(1 << 62)
	for _, r := range rows {
		maxID = max(maxID, r.id)
		if r.ts != nil {
			minTS = min(minTS, *r.ts)
		}
	}
	for _, tc := range []struct {
		name   string
		filter iceberg.BooleanExpression
		files  int
	}{
		{"id above max", iceberg.GreaterThan(iceberg.Reference("id"), maxID), 0},
		{"ts below min", iceberg.LessThan(iceberg.Reference("ts"), minTS), 0},
		{"zip above max", iceberg.GreaterThan(iceberg.Reference("addr.zip"), int32(100_000)), 0},
		{"id equals max", iceberg.EqualTo(iceberg.Reference("id"), maxID), 1},
		{"ts at min", iceberg.LessThan(iceberg.Reference("ts"), minTS+1), 1},
		{"zip in range", iceberg.GreaterThanEqual(iceberg.Reference("addr.zip"), int32(0)), 1},
	} {
		tasks, err := tbl.Scan(icebergtable.WithRowFilter(tc.filter)).PlanFiles(ctx)
		if err != nil {
			t.Fatalf("%s: plan: %v", tc.name, err)
		}
		if len(tasks) != tc.files {
			t.Errorf("%s: planned %d files, want %d", tc.name, len(tasks), tc.files)
		}
	}
}

// TestDataFileTruncatedBounds writes long strings and binaries through the
// writer and checks the truncated bounds that come out of the footer.
func TestDataFileTruncatedBounds(t *testing.T) {
	sch := iceberg.NewSchema(0,
		iceberg.NestedField{ID: 1, Name: "s", Type: iceberg.PrimitiveTypes.String, Required: true},
		iceberg.NestedField{ID: 2, Name: "b", Type: iceberg.PrimitiveTypes.Binary, Required: true},
	)
	for _, tc := range []struct {
		name           string
		strs           []string
		bins           [][]byte
		sLower, sUpper string // "" means no bound
		bLower, bUpper []byte
	}{
		{
			name:   "long values",
			strs:   []string{"zzzz-long-value-over-sixteen", "abcdefghijklmnopqrstuvwxyz", "éééééééééééééééééééé"},
			bins:   [][]byte{bytes.Repeat([]byte{7}, 20), bytes.Repeat([]byte{9}, 30)},
			sLower: "abcdefghijklmnop", sUpper: "éééééééééééééééê",
			bLower: bytes.Repeat([]byte{7}, 16), bUpper: append(bytes.Repeat([]byte{9}, 15), 10),
		},
		{
			name:   "max cannot be rounded up",
			strs:   []string{strings.Repeat("\U0010FFFF", 17), "short"},
			bins:   [][]byte{bytes.Repeat([]byte{0xff}, 17), {1}},
			sLower: "short", sUpper: "",
			bLower: []byte{1}, bUpper: nil,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := NewDataFileWriter(io.Discard, sch, DefaultDataFileOptions())
			if err != nil {
				t.Fatal(err)
			}
			rb := array.NewRecordBuilder(memory.DefaultAllocator, w.ArrowSchema())
			defer rb.Release()
			rb.Field(0).(*array.StringBuilder).AppendValues(tc.strs, nil)
			bb := rb.Field(1).(*array.BinaryBuilder)
			bb.AppendValues(tc.bins, nil)
			for range len(tc.strs) - len(tc.bins) {
				bb.Append(tc.bins[0])
			}
			rec := rb.NewRecordBatch()
			defer rec.Release()
			if err := w.Write(rec); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			df, err := w.DataFile("t.parquet", *iceberg.UnpartitionedSpec, nil)
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, m map[int][]byte, id int, want []byte) {
				got, ok := m[id]
				if ok != (want != nil) || !bytes.Equal(got, want) {
					t.Errorf("%s = %q (present %v), want %q", what, got, ok, want)
				}
			}
			orNil := func(s string) []byte {
				if s == "" {
					return nil
				}
				return []byte(s)
			}
			check("string lower", df.LowerBoundValues(), 1, orNil(tc.sLower))
			check("string upper", df.UpperBoundValues(), 1, orNil(tc.sUpper))
			check("binary lower", df.LowerBoundValues(), 2, tc.bLower)
			check("binary upper", df.UpperBoundValues(), 2, tc.bUpper)
		})
	}
}

func TestDataFileTruncateUpper(t *testing.T) {
	strCases := []struct {
		in   string
		n    int
		want []byte // nil: bound omitted
	}{
		{"abc", 5, []byte("abc")},
		{"abc", 3, []byte("abc")},
		{"abcdef", 3, []byte("abd")},
		{"aé€x", 3, []byte("aé\u20AD")}, // € is U+20AC
		{"a\U0010FFFF\U0010FFFFx", 3, []byte("b")},
		{"\U0010FFFF\U0010FFFFx", 2, nil},
		{"a\uD7FFb", 2, []byte("a\uE000")},
		{"😀😀😀", 2, []byte("😀😁")},
	}
	for _, tc := range strCases {
		if got := truncateUpperString(tc.in, tc.n); !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("truncateUpperString(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		if got := truncateUpperString(tc.in, tc.n); got != nil && strings.Compare(string(got), tc.in) < 0 {
			t.Errorf("upper bound %q < value %q", got, tc.in)
		}
	}
	binCases := []struct {
		in   []byte
		n    int
		want []byte
	}{
		{[]byte{1, 2, 3}, 3, []byte{1, 2, 3}},
		{[]byte{1, 2, 0xff, 0xff, 5}, 4, []byte{1, 3}},
		{[]byte{0xff, 0xff, 1}, 2, nil},
		{[]byte{0, 0, 0}, 1, []byte{1}},
	}
	for _, tc := range binCases {
		if got := truncateUpperBinary(tc.in, tc.n); !bytes.Equal(got, tc.want) || (got == nil) != (tc.want == nil) {
			t.Errorf("truncateUpperBinary(%v, %d) = %v, want %v", tc.in, tc.n, got, tc.want)
		}
	}
	lo, err := lowerBoundBytes(iceberg.StringLiteral("héllo wörld"), 4)
	if err != nil || string(lo) != "héll" {
		t.Errorf("lowerBound = %q, %v; want %q", lo, err, "héll")
	}
	full, err := upperBoundBytes(iceberg.StringLiteral("héllo wörld"), -1)
	if err != nil || string(full) != "héllo wörld" {
		t.Errorf("upperBound without truncation = %q, %v", full, err)
	}
}

func TestDataFileWriterErrors(t *testing.T) {
	sch := dfTestSchema()
	for _, tc := range []struct {
		name string
		opts DataFileOptions
	}{
		{"unknown codec", DataFileOptions{Compression: "lzma"}},
		{"negative row group", DataFileOptions{RowGroupBytes: -1}},
		{"negative page", DataFileOptions{PageBytes: -1}},
	} {
		if _, err := NewDataFileWriter(io.Discard, sch, tc.opts); !errors.Is(err, ErrInvalidDataFileOptions) {
			t.Errorf("%s: err = %v, want ErrInvalidDataFileOptions", tc.name, err)
		}
	}

	w, err := NewDataFileWriter(io.Discard, sch, DefaultDataFileOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.DataFile("x.parquet", *iceberg.UnpartitionedSpec, nil); !errors.Is(err, ErrDataFileNotClosed) {
		t.Errorf("DataFile before Close: %v", err)
	}
	other := iceberg.NewSchema(0, iceberg.NestedField{ID: 1, Name: "x", Type: iceberg.PrimitiveTypes.Int64, Required: true})
	ow, err := NewDataFileWriter(io.Discard, other, DefaultDataFileOptions())
	if err != nil {
		t.Fatal(err)
	}
	rec := dfRecordOther(ow.ArrowSchema())
	defer rec.Release()
	if err := w.Write(rec); !errors.Is(err, ErrDataFileSchema) {
		t.Errorf("Write with a foreign schema: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close of an empty file: %v", err)
	}
	df, err := w.DataFile("x.parquet", *iceberg.UnpartitionedSpec, nil)
	if err != nil || df.Count() != 0 || df.FileSizeBytes() == 0 {
		t.Fatalf("empty file DataFile = %v, %v", df, err)
	}
	if err := w.Write(rec); !errors.Is(err, ErrDataFileClosed) {
		t.Errorf("Write after Close: %v", err)
	}

	spec := iceberg.NewPartitionSpec(iceberg.PartitionField{SourceIDs: []int{fidDay}, FieldID: 1000, Name: "day", Transform: iceberg.IdentityTransform{}})
	if _, err := w.DataFile("x.parquet", spec, nil); !errors.Is(err, ErrInvalidDataFileOptions) {
		t.Errorf("missing partition value: %v", err)
	}
	df, err = w.DataFile("x.parquet", spec, map[int]any{1000: iceberg.Date(19_000)})
	if err != nil || df.Partition()[1000] != iceberg.Date(19_000) {
		t.Errorf("partitioned DataFile = %v, %v", df, err)
	}
}

func dfRecordOther(sc *arrow.Schema) arrow.RecordBatch {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	b.Field(0).(*array.Int64Builder).Append(1)
	return b.NewRecordBatch()
}

// TestDataFileRecordBytesSliced pins that the size estimate counts only a
// slice's rows, so a sliced batch does not cut row groups early.
func TestDataFileRecordBytesSliced(t *testing.T) {
	sch := dfTestSchema()
	w, err := NewDataFileWriter(io.Discard, sch, DefaultDataFileOptions())
	if err != nil {
		t.Fatal(err)
	}
	rec := dfRecord(t, w.ArrowSchema(), dfRows(1000, 3))
	defer rec.Release()
	whole := RecordBytes(rec)
	a, b := rec.NewSlice(0, 500), rec.NewSlice(500, 1000)
	defer a.Release()
	defer b.Release()
	sa, sb := RecordBytes(a), RecordBytes(b)
	// Validity bitmaps round up per slice; allow a few bytes per column.
	if diff := sa + sb - whole; diff < 0 || diff > 64 {
		t.Fatalf("slices %d + %d vs whole %d", sa, sb, whole)
	}
	if sa < whole/4 || sb < whole/4 {
		t.Fatalf("slice sizes %d, %d not proportional to whole %d", sa, sb, whole)
	}
}

// BenchmarkDataFileWrite encodes pre-built batches of the test schema into
// one file per iteration, discarding the bytes (DESIGN.md §6 L2). SetBytes
// is the Arrow in-memory size of the input.
func BenchmarkDataFileWrite(b *testing.B) {
	sch := dfTestSchema()
	w0, err := NewDataFileWriter(io.Discard, sch, DefaultDataFileOptions())
	if err != nil {
		b.Fatal(err)
	}
	const batches, batchRows = 8, 4096
	rows := dfRows(batches*batchRows, 4)
	recs := make([]arrow.RecordBatch, batches)
	var total int64
	for i := range recs {
		recs[i] = dfRecord(b, w0.ArrowSchema(), rows[i*batchRows:(i+1)*batchRows])
		defer recs[i].Release()
		total += RecordBytes(recs[i])
	}
	for _, bc := range []struct {
		name   string
		codec  string
		level  int
		noDict bool
	}{{"zstd3", "zstd", 3, false}, {"zstd1", "zstd", 1, false}, {"snappy", "snappy", 0, false}, {"zstd3-nodict", "zstd", 3, true}} {
		b.Run(bc.name, func(b *testing.B) {
			opts := DefaultDataFileOptions()
			opts.Compression, opts.ZstdLevel, opts.DictionaryEnabled = bc.codec, bc.level, !bc.noDict
			var size int64
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				w, err := NewDataFileWriter(io.Discard, sch, opts)
				if err != nil {
					b.Fatal(err)
				}
				for _, rec := range recs {
					if err := w.Write(rec); err != nil {
						b.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				if _, err := w.DataFile("bench.parquet", *iceberg.UnpartitionedSpec, nil); err != nil {
					b.Fatal(err)
				}
				size = w.BytesWritten()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batches*batchRows), "ns/row")
			b.ReportMetric(float64(total)/float64(size), "ratio")
		})
	}
}
