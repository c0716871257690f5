package decode

import (
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
)

// bindings are the typed builders a node appends to. They are resolved once
// per RecordBuilder (Decode rebinds when it is handed a different one) so
// the hot path makes no type assertions.
type bindings struct {
	bld      array.Builder // any node: AppendNull
	boolB    *array.BooleanBuilder
	i32      *array.Int32Builder
	i64      *array.Int64Builder
	f32      *array.Float32Builder
	f64      *array.Float64Builder
	bin      *array.BinaryBuilder // string, enum and binary columns
	fsb      *array.FixedSizeBinaryBuilder
	dec      *array.Decimal128Builder
	date     *array.Date32Builder
	time     *array.Time64Builder
	ts       *array.TimestampBuilder
	st       *array.StructBuilder
	list     *array.ListBuilder
	mp       *array.MapBuilder
	missingB []array.Builder // opRecord: builders of the table children the writer lacks
}

// bind resolves every node's builders from b.
func (d *Decoder) bind(b *array.RecordBuilder) error {
	d.bound = nil // a failed bind leaves nodes half bound: force the next call to rebind
	if got := b.Schema().NumFields(); got != d.nTarget {
		return fmt.Errorf("decode: record builder has %d columns, table schema has %d", got, d.nTarget)
	}
	root := d.root
	root.missingB = root.missingB[:0]
	for _, i := range root.missing {
		root.missingB = append(root.missingB, b.Field(i))
	}
	for i, child := range root.fields {
		if idx := root.fieldIdx[i]; idx >= 0 {
			if err := bindNode(child, b.Field(idx)); err != nil {
				return err
			}
		}
	}
	d.bound = b
	return nil
}

func bindNode(n *node, bld array.Builder) error {
	n.bld = bld
	ok := true
	switch n.op {
	case opNull:
	case opBool:
		n.boolB, ok = bld.(*array.BooleanBuilder)
	case opInt:
		n.i32, ok = bld.(*array.Int32Builder)
	case opIntLong, opLong:
		n.i64, ok = bld.(*array.Int64Builder)
	case opFloat:
		n.f32, ok = bld.(*array.Float32Builder)
	case opFloatDouble, opDouble:
		n.f64, ok = bld.(*array.Float64Builder)
	case opString, opEnum:
		var sb *array.StringBuilder
		if sb, ok = bld.(*array.StringBuilder); ok {
			n.bin = sb.BinaryBuilder
		}
	case opBytes:
		n.bin, ok = bld.(*array.BinaryBuilder)
	case opFixed:
		n.fsb, ok = bld.(*array.FixedSizeBinaryBuilder)
	case opUUID, opUUIDFixed:
		// The uuid extension builder wraps fixed_size_binary(16) storage.
		var eb interface{ StorageBuilder() array.Builder }
		if eb, ok = bld.(interface{ StorageBuilder() array.Builder }); ok {
			n.fsb, ok = eb.StorageBuilder().(*array.FixedSizeBinaryBuilder)
		}
	case opDecBytes, opDecFixed:
		n.dec, ok = bld.(*array.Decimal128Builder)
	case opDate:
		n.date, ok = bld.(*array.Date32Builder)
	case opTimeMillis, opTimeMicros:
		n.time, ok = bld.(*array.Time64Builder)
	case opTsMillis, opTsMicros:
		n.ts, ok = bld.(*array.TimestampBuilder)
	case opRecord:
		if n.st, ok = bld.(*array.StructBuilder); ok {
			if err := bindStruct(n); err != nil {
				return err
			}
		}
	case opArray:
		if n.list, ok = bld.(*array.ListBuilder); ok {
			if err := bindNode(n.elem, n.list.ValueBuilder()); err != nil {
				return err
			}
		}
	case opMap:
		if n.mp, ok = bld.(*array.MapBuilder); ok {
			if err := bindNode(n.key, n.mp.KeyBuilder()); err != nil {
				return err
			}
			if err := bindNode(n.elem, n.mp.ItemBuilder()); err != nil {
				return err
			}
		}
	default:
		ok = false
	}
	if !ok {
		return fmt.Errorf("decode: field %q: builder %T does not fit the compiled type", n.path, bld)
	}
	return nil
}

func bindStruct(n *node) error {
	nf := n.st.NumField()
	n.missingB = n.missingB[:0]
	for _, i := range n.missing {
		if i >= nf {
			return fmt.Errorf("decode: field %q: struct builder has %d children", n.path, nf)
		}
		n.missingB = append(n.missingB, n.st.FieldBuilder(i))
	}
	for i, child := range n.fields {
		idx := n.fieldIdx[i]
		if idx < 0 {
			continue
		}
		if idx >= nf {
			return fmt.Errorf("decode: field %q: struct builder has %d children", n.path, nf)
		}
		if err := bindNode(child, n.st.FieldBuilder(idx)); err != nil {
			return err
		}
	}
	return nil
}
