package enrich

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/objstore"
)

// Formats accepted by Source.Format.
const (
	FormatCSV     = "csv"
	FormatJSONL   = "jsonl"
	FormatParquet = "parquet"
	FormatIceberg = "iceberg"
)

const icebergPrefix = "iceberg:"

// errUnchanged is returned by loadSpec.load when the data is still the
// version the caller holds.
var errUnchanged = errors.New("reference data unchanged")

// colType is a column's Avro primitive type; typeUnknown means "take it
// from the data".
type colType uint8

const (
	typeUnknown colType = iota
	typeString
	typeInt
	typeLong
	typeFloat
	typeDouble
	typeBoolean
)

var typeNames = [...]string{"", "string", "int", "long", "float", "double", "boolean"}

func (t colType) String() string { return typeNames[t] }

func parseType(s string) (colType, bool) {
	i := slices.Index(typeNames[1:], strings.ToLower(s))
	return colType(i + 1), i >= 0
}

// column is a validated Column.
type column struct {
	name, as string
	typ      colType
}

// loadSpec is a validated Source bound to where its data lives.
type loadSpec struct {
	format   string
	location string
	key      []string
	cols     []column
	// keyTypes are, for CSV, how each key column's text is canonicalised:
	// the type of the added column of the same name, else string.
	keyTypes []colType

	path   string          // local file, or
	bucket objstore.Bucket // an object
	objKey string
	cat    catalog.Catalog // or an Iceberg table
	ident  icebergtable.Identifier
}

// sourceError is an error that matches a sentinel with errors.Is without
// spelling it out in the message, so messages read
// `enrich "artists": key column "artist_id" not in the data`.
type sourceError struct {
	msg  string
	kind error
}

func (e *sourceError) Error() string        { return e.msg }
func (e *sourceError) Is(target error) bool { return target == e.kind }

func invalid(format string, args ...any) error {
	return &sourceError{msg: fmt.Sprintf(format, args...), kind: ErrInvalidSource}
}

func mismatch(format string, args ...any) error {
	return &sourceError{msg: fmt.Sprintf(format, args...), kind: ErrColumnMismatch}
}

// newLoadSpec validates src and opens what its location needs.
func newLoadSpec(ctx context.Context, src Source, deps Deps) (*loadSpec, error) {
	if src.Name == "" {
		return nil, invalid("name is required")
	}
	if src.Location == "" {
		return nil, invalid("location is required")
	}
	if src.Refresh < 0 {
		return nil, invalid("refresh %s is negative", src.Refresh)
	}
	s := &loadSpec{location: src.Location}
	var err error
	if s.format, err = detectFormat(src); err != nil {
		return nil, err
	}
	if len(src.Key) == 0 {
		return nil, invalid("key: at least one key column is required")
	}
	for i, k := range src.Key {
		if k == "" {
			return nil, invalid("key[%d]: empty column name", i)
		}
		if slices.Index(src.Key, k) != i {
			return nil, invalid("key: column %q is listed twice", k)
		}
	}
	s.key = src.Key
	if len(src.Columns) == 0 {
		return nil, invalid("columns: at least one column to add is required")
	}
	for i, c := range src.Columns {
		col := column{name: c.Name, as: c.As}
		if c.Name == "" {
			return nil, invalid("columns[%d]: name is required", i)
		}
		if col.as == "" {
			col.as = c.Name
		}
		if !validAvroName(col.as) {
			return nil, invalid("column %q: output name %q is not a valid Avro name ([A-Za-z_][A-Za-z0-9_]*)", c.Name, col.as)
		}
		for _, prev := range s.cols {
			if prev.as == col.as {
				return nil, invalid("column %q: output name %q is used by column %q too", c.Name, col.as, prev.name)
			}
		}
		if c.Type != "" {
			t, ok := parseType(c.Type)
			if !ok {
				return nil, invalid("column %q: type %q: want string, int, long, float, double or boolean", c.Name, c.Type)
			}
			col.typ = t
		} else if s.format == FormatCSV {
			col.typ = typeString
		}
		s.cols = append(s.cols, col)
	}
	if s.format == FormatCSV {
		for _, k := range s.key {
			t := typeString
			if i := slices.IndexFunc(s.cols, func(c column) bool { return c.name == k }); i >= 0 {
				t = s.cols[i].typ
			}
			if t == typeFloat || t == typeDouble {
				return nil, invalid("key column %q: type %s cannot be a key", k, t)
			}
			s.keyTypes = append(s.keyTypes, t)
		}
	}
	if err := s.bind(ctx, src.Location, deps); err != nil {
		return nil, err
	}
	return s, nil
}

// detectFormat returns the explicit format or the one the location
// implies.
func detectFormat(src Source) (string, error) {
	isIceberg := strings.HasPrefix(src.Location, icebergPrefix)
	f := strings.ToLower(src.Format)
	switch f {
	case "":
	case "ndjson":
		f = FormatJSONL
	case FormatCSV, FormatJSONL, FormatParquet, FormatIceberg:
	default:
		return "", invalid("format %q: want csv, jsonl, parquet or iceberg", src.Format)
	}
	if isIceberg && f != "" && f != FormatIceberg {
		return "", invalid("format %q: location %q is an Iceberg table", src.Format, src.Location)
	}
	if f != "" {
		return f, nil
	}
	if isIceberg {
		return FormatIceberg, nil
	}
	switch strings.ToLower(path.Ext(src.Location)) {
	case ".csv":
		return FormatCSV, nil
	case ".jsonl", ".ndjson":
		return FormatJSONL, nil
	case ".parquet":
		return FormatParquet, nil
	}
	return "", invalid("format: location %q has no known extension (.csv, .jsonl, .ndjson, .parquet); set format", src.Location)
}

// bind resolves the location: a local path, an object in a bucket, or a
// table in the catalog.
func (s *loadSpec) bind(ctx context.Context, loc string, deps Deps) error {
	if s.format == FormatIceberg {
		name := strings.TrimPrefix(loc, icebergPrefix)
		s.ident = strings.Split(name, ".")
		if len(s.ident) < 2 || slices.Contains(s.ident, "") {
			return invalid("location %q: want iceberg:namespace.table", loc)
		}
		if deps.Catalog == nil {
			return invalid("location %q: an Iceberg source needs a catalog", loc)
		}
		s.cat = deps.Catalog
		return nil
	}
	scheme, rest, hasScheme := strings.Cut(loc, "://")
	if !hasScheme {
		s.path = loc
		return nil
	}
	switch strings.ToLower(scheme) {
	case "file":
		// As objstore.Open: file:///abs, file://localhost/abs, file://./rel.
		if strings.HasPrefix(rest, "localhost/") {
			rest = strings.TrimPrefix(rest, "localhost")
		}
		if rest == "" {
			return invalid("location %q: no path", loc)
		}
		s.path = rest
		return nil
	case "s3":
		bucket, key, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return invalid("location %q: no bucket name", loc)
		}
		if err := objstore.ValidateKey(key); err != nil {
			return invalid("location %q: %v", loc, err)
		}
		if deps.OpenBucket == nil {
			return invalid("location %q: an s3:// source needs Deps.OpenBucket", loc)
		}
		b, err := deps.OpenBucket(ctx, "s3://"+bucket)
		if err != nil {
			return fmt.Errorf("location %q: %w", loc, err)
		}
		s.bucket, s.objKey = b, key
		return nil
	default:
		return invalid("location %q: unsupported scheme %q (want a path, file://, s3:// or iceberg:)", loc, scheme)
	}
}

// open returns the file or object.
func (s *loadSpec) open(ctx context.Context) (io.ReadCloser, error) {
	if s.bucket != nil {
		return s.bucket.Get(ctx, s.objKey)
	}
	return os.Open(s.path)
}

// readerAt returns the whole file or object for random access (Parquet).
// Objects are read into memory: the index built from them is larger.
func (s *loadSpec) readerAt(ctx context.Context) (readerAtSeeker, func() error, error) {
	if s.bucket == nil {
		f, err := os.Open(s.path)
		if err != nil {
			return nil, nil, err
		}
		return f, f.Close, nil
	}
	rc, err := s.bucket.Get(ctx, s.objKey)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", s.location, err)
	}
	return bytes.NewReader(b), func() error { return nil }, nil
}

type readerAtSeeker interface {
	io.ReaderAt
	io.Seeker
}

// load reads the data into a new index. prev is the version the caller
// holds; errUnchanged means the data is still that version.
func (s *loadSpec) load(ctx context.Context, prev string) (*index, error) {
	switch s.format {
	case FormatIceberg:
		return s.loadIceberg(ctx, prev)
	case FormatParquet:
		return s.loadParquet(ctx)
	}
	rc, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if s.format == FormatCSV {
		return s.loadCSV(rc)
	}
	return s.loadJSONL(rc)
}

// validAvroName reports whether n is an Avro name: [A-Za-z_][A-Za-z0-9_]*.
func validAvroName(n string) bool {
	if n == "" {
		return false
	}
	for i, c := range []byte(n) {
		letter := c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// missing is the error for a configured column absent from the data.
func missing(kind, name string) error {
	return mismatch("%s %q not in the data", kind, name)
}
