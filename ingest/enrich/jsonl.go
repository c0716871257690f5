package enrich

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxJSONLine bounds one JSON line, so a file without newlines fails
// instead of growing a buffer without end.
const maxJSONLine = 64 << 20

// jsonRow holds the values of one line: the key columns, then the added
// columns. nil is null or missing.
type jsonRow struct {
	line int
	vals []any
}

// loadJSONL indexes a JSON-lines file. Types left to the data are inferred
// from every line, so the lines are parsed in full before any is encoded.
func (s *loadSpec) loadJSONL(r io.Reader) (*index, error) {
	names := append(append([]string{}, s.key...), colNames(s.cols)...)
	seen := make([]bool, len(names))
	var rows []jsonRow
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxJSONLine)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		obj, err := decodeJSONLine(text)
		if err != nil {
			return nil, fmt.Errorf("jsonl %s: line %d: %w", s.location, line, err)
		}
		row := jsonRow{line: line, vals: make([]any, len(names))}
		for i, n := range names {
			if v, ok := obj[n]; ok {
				seen[i] = true
				row.vals[i] = v
			}
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("jsonl %s: line %d: longer than %d bytes", s.location, line+1, maxJSONLine)
		}
		return nil, fmt.Errorf("jsonl %s: %w", s.location, err)
	}
	if len(rows) > 0 {
		for i, n := range names {
			if !seen[i] {
				kind := "column"
				if i < len(s.key) {
					kind = "key column"
				}
				return nil, missing(kind, n)
			}
		}
	}
	types := make([]colType, len(s.cols))
	for i, c := range s.cols {
		types[i] = c.typ
		if c.typ != typeUnknown {
			continue
		}
		t, err := inferJSON(rows, len(s.key)+i)
		if err != nil {
			return nil, fmt.Errorf("jsonl %s: column %q: %w", s.location, c.name, err)
		}
		types[i] = t
	}
	var b builder
	for _, row := range rows {
		for i, k := range s.key {
			if err := b.keyJSON(row.vals[i]); err != nil {
				return nil, fmt.Errorf("jsonl %s: line %d: key column %q: %w", s.location, row.line, k, err)
			}
		}
		for i, c := range s.cols {
			if err := b.json(types[i], row.vals[len(s.key)+i]); err != nil {
				return nil, fmt.Errorf("jsonl %s: line %d: column %q: %w", s.location, row.line, c.name, err)
			}
		}
		b.endRow()
	}
	return b.finish(types, "")
}

func colNames(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name
	}
	return out
}

// decodeJSONLine parses one line holding exactly one JSON object.
func decodeJSONLine(text []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("malformed JSON: data after the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %s", jsonKind(v))
	}
	return obj, nil
}

func jsonKind(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number:
		if isIntegral(v) {
			return "an integer"
		}
		return "a fractional number"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

// isIntegral reports whether n is written as an integer ("12", not "12.0"
// or "1e3").
func isIntegral(n json.Number) bool { return !strings.ContainsAny(string(n), ".eE") }

// inferJSON returns the type of column i over all rows: long if every
// number is integral, double if any is not, else string or boolean.
func inferJSON(rows []jsonRow, i int) (colType, error) {
	t, firstLine := typeUnknown, 0
	for _, row := range rows {
		var vt colType
		switch v := row.vals[i].(type) {
		case nil:
			continue
		case string:
			vt = typeString
		case bool:
			vt = typeBoolean
		case json.Number:
			vt = typeDouble
			if isIntegral(v) {
				vt = typeLong
			}
		default:
			return 0, fmt.Errorf("line %d: %s is not a supported value", row.line, jsonKind(v))
		}
		switch {
		case t == typeUnknown:
			t, firstLine = vt, row.line
		case t == vt:
		case (t == typeLong && vt == typeDouble) || (t == typeDouble && vt == typeLong):
			t = typeDouble
		default:
			return 0, fmt.Errorf("line %d: %s, but line %d has a %s; set its type", row.line, jsonKind(row.vals[i]), firstLine, t)
		}
	}
	if t == typeUnknown {
		return 0, errors.New("no non-null values to infer a type from; set its type")
	}
	return t, nil
}

// json appends a JSON value converted to t.
func (b *builder) json(t colType, v any) error {
	if v == nil {
		b.null()
		return nil
	}
	bad := func() error { return fmt.Errorf("%s is not a valid %s", jsonKind(v), t) }
	switch t {
	case typeString:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		b.str(s)
	case typeBoolean:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		b.boolean(x)
	default:
		n, ok := v.(json.Number)
		if !ok {
			return bad()
		}
		switch t {
		case typeInt, typeLong:
			if !isIntegral(n) {
				return bad()
			}
			x, err := strconv.ParseInt(string(n), 10, intBits(t))
			if err != nil {
				return fmt.Errorf("%s is out of range for %s", n, t)
			}
			b.long(x)
		case typeFloat:
			x, err := strconv.ParseFloat(string(n), 32)
			if err != nil {
				return fmt.Errorf("%s is out of range for %s", n, t)
			}
			b.float(float32(x))
		default:
			x, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				return fmt.Errorf("%s is out of range for %s", n, t)
			}
			b.double(x)
		}
	}
	return nil
}

// keyJSON appends a JSON key value's canonical text.
func (b *builder) keyJSON(v any) error {
	switch v := v.(type) {
	case nil:
		b.keyNull()
	case string:
		b.keyString(v)
	case bool:
		b.keyBool(v)
	case json.Number:
		if !isIntegral(v) {
			return fmt.Errorf("%s: a fractional number cannot be a key", v)
		}
		x, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%s is out of range for a long key", v)
		}
		b.keyInt(x)
	default:
		return fmt.Errorf("%s cannot be a key", jsonKind(v))
	}
	return nil
}
