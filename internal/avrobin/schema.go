package avrobin

import (
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
)

// UnionBranches returns the last non-null branch of u, whether u admits
// null, and the names of all its non-null branches (more than one is what
// Iceberg cannot hold).
func UnionBranches(u *avro.UnionSchema) (inner avro.Schema, nullable bool, names []string) {
	for _, t := range u.Types() {
		t = Deref(t)
		if t.Type() == avro.Null {
			nullable = true
			continue
		}
		inner = t
		names = append(names, TypeName(t))
	}
	return inner, nullable, names
}

// UnwrapNullable returns the single non-null branch of a union and whether
// the union admits null. A non-union schema is returned as is.
func UnwrapNullable(s avro.Schema, path string) (avro.Schema, bool, error) {
	u, ok := Deref(s).(*avro.UnionSchema)
	if !ok {
		return Deref(s), false, nil
	}
	inner, nullable, names := UnionBranches(u)
	switch {
	case len(names) > 1:
		return nil, false, fmt.Errorf("field %q: union of several non-null types [%s] is not supported", path, strings.Join(names, " "))
	case inner == nil:
		return nil, false, fmt.Errorf("field %q: union of only null is not supported", path)
	}
	return inner, nullable, nil
}

// Deref follows named-type references to the schema they name.
func Deref(s avro.Schema) avro.Schema {
	for {
		r, ok := s.(*avro.RefSchema)
		if !ok {
			return s
		}
		s = r.Schema()
	}
}

// TypeName names a schema in error messages: the full name of named types,
// otherwise the Avro type.
func TypeName(s avro.Schema) string {
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func JoinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}
