package enrich

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// loadCSV indexes a CSV file with a header row.
func (s *loadSpec) loadCSV(r io.Reader) (*index, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("csv %s: no header row", s.location)
	}
	if err != nil {
		return nil, fmt.Errorf("csv %s: %w", s.location, err)
	}
	header = slices.Clone(header)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff")
	}
	for i, h := range header {
		if slices.Index(header, h) != i {
			return nil, fmt.Errorf("csv %s: header names column %q twice", s.location, h)
		}
	}
	keyAt := make([]int, len(s.key))
	for i, k := range s.key {
		if keyAt[i] = slices.Index(header, k); keyAt[i] < 0 {
			return nil, missing("key column", k)
		}
	}
	colAt := make([]int, len(s.cols))
	types := make([]colType, len(s.cols))
	for i, c := range s.cols {
		if colAt[i] = slices.Index(header, c.name); colAt[i] < 0 {
			return nil, missing("column", c.name)
		}
		types[i] = c.typ
	}
	var b builder
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// csv.ParseError names the line.
			return nil, fmt.Errorf("csv %s: %w", s.location, err)
		}
		for i, at := range keyAt {
			if err := b.keyText(s.keyTypes[i], rec[at]); err != nil {
				line, _ := cr.FieldPos(at)
				return nil, fmt.Errorf("csv %s: line %d: key column %q: %w", s.location, line, s.key[i], err)
			}
		}
		for i, at := range colAt {
			if err := b.text(types[i], rec[at]); err != nil {
				line, _ := cr.FieldPos(at)
				return nil, fmt.Errorf("csv %s: line %d: column %q: %w", s.location, line, s.cols[i].name, err)
			}
		}
		b.endRow()
	}
	return b.finish(types, "")
}
