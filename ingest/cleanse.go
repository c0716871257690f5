package ingest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	iceberg "github.com/apache/iceberg-go"
)

// Cleanse operations on string columns, applied in order to every batch of
// a table before it is encoded.
const (
	CleanseTrim        = "trim"          // strip surrounding white space, fold inner runs to one space
	CleanseLower       = "lower"         // lower case
	CleanseUpper       = "upper"         // upper case
	CleanseEmptyToNull = "empty_to_null" // "" (after earlier steps) becomes null; the column must be optional
	CleanseHash        = "hash"          // hex HMAC-SHA256 with a secret key: pseudonymise PII
	CleanseMask        = "mask"          // keep the last KeepLast characters, replace the rest with '*'
)

// ErrCleanse is wrapped by every error compiling a cleanse chain.
var ErrCleanse = errors.New("invalid cleanse step")

// CleanseStep is one operation on some top-level string columns.
type CleanseStep struct {
	Op      string
	Columns []string
	// Key is the HMAC key of a hash step. It comes from the environment
	// and is never logged.
	Key []byte
	// KeepLast is how many trailing characters a mask step keeps.
	KeepLast int
}

// cleanser is a chain compiled against one table schema.
type cleanser struct {
	steps []compiledStep
	mem   memory.Allocator
}

type compiledStep struct {
	step CleanseStep
	cols []int // column indexes in the Arrow schema
}

// compileCleanse checks steps against the table schema: every column must
// be a top-level string column, and optional for empty_to_null.
func compileCleanse(steps []CleanseStep, sch *iceberg.Schema, arr *arrow.Schema) (*cleanser, error) {
	if len(steps) == 0 {
		return nil, nil
	}
	c := &cleanser{mem: memory.DefaultAllocator}
	for i, st := range steps {
		switch st.Op {
		case CleanseTrim, CleanseLower, CleanseUpper, CleanseEmptyToNull:
		case CleanseHash:
			if len(st.Key) == 0 {
				return nil, fmt.Errorf("%w: step %d (hash): no key", ErrCleanse, i)
			}
		case CleanseMask:
			if st.KeepLast < 0 {
				return nil, fmt.Errorf("%w: step %d (mask): keep_last must be >= 0", ErrCleanse, i)
			}
		default:
			return nil, fmt.Errorf("%w: step %d: unknown op %q", ErrCleanse, i, st.Op)
		}
		cs := compiledStep{step: st}
		for _, name := range st.Columns {
			var field *iceberg.NestedField
			for _, f := range sch.Fields() {
				if f.Name == name {
					field = &f
					break
				}
			}
			idx := arr.FieldIndices(name)
			switch {
			case field == nil || len(idx) != 1:
				return nil, fmt.Errorf("%w: step %d (%s): no top-level column %q", ErrCleanse, i, st.Op, name)
			case !field.Type.Equals(iceberg.PrimitiveTypes.String):
				return nil, fmt.Errorf("%w: step %d (%s): column %q is %s, not string", ErrCleanse, i, st.Op, name, field.Type)
			case st.Op == CleanseEmptyToNull && field.Required:
				return nil, fmt.Errorf("%w: step %d (%s): column %q is required and cannot hold null", ErrCleanse, i, st.Op, name)
			}
			cs.cols = append(cs.cols, idx[0])
		}
		c.steps = append(c.steps, cs)
	}
	return c, nil
}

// apply returns rec with its cleansed columns replaced; rec is released.
func (c *cleanser) apply(rec arrow.RecordBatch) arrow.RecordBatch {
	cols := make([]arrow.Array, rec.NumCols())
	for i := range cols {
		cols[i] = rec.Column(i)
		cols[i].Retain()
	}
	for _, st := range c.steps {
		for _, ci := range st.cols {
			next := c.column(st.step, cols[ci].(*array.String))
			cols[ci].Release()
			cols[ci] = next
		}
	}
	out := array.NewRecordBatch(rec.Schema(), cols, rec.NumRows())
	for _, col := range cols {
		col.Release()
	}
	rec.Release()
	return out
}

func (c *cleanser) column(st CleanseStep, in *array.String) arrow.Array {
	b := array.NewStringBuilder(c.mem)
	defer b.Release()
	b.Reserve(in.Len())
	var mac []byte
	for i := range in.Len() {
		if in.IsNull(i) {
			b.AppendNull()
			continue
		}
		v := in.Value(i)
		switch st.Op {
		case CleanseTrim:
			v = strings.Join(strings.FieldsFunc(v, unicode.IsSpace), " ")
		case CleanseLower:
			v = strings.ToLower(v)
		case CleanseUpper:
			v = strings.ToUpper(v)
		case CleanseEmptyToNull:
			if v == "" {
				b.AppendNull()
				continue
			}
		case CleanseHash:
			h := hmac.New(sha256.New, st.Key)
			h.Write([]byte(v))
			mac = h.Sum(mac[:0])
			v = hex.EncodeToString(mac)
		case CleanseMask:
			v = mask(v, st.KeepLast)
		}
		b.Append(v)
	}
	return b.NewStringArray()
}

// mask keeps the last keep characters (runes) of v and stars the rest.
func mask(v string, keep int) string {
	n := utf8.RuneCountInString(v)
	if n <= keep {
		return v
	}
	var sb strings.Builder
	i := 0
	for _, r := range v {
		if i < n-keep {
			sb.WriteByte('*')
		} else {
			sb.WriteRune(r)
		}
		i++
	}
	return sb.String()
}
