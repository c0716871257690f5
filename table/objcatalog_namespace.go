package table

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/objstore"
)

// Namespaces of the ObjectStoreCatalog. Namespace properties are
// informational (nothing in the commit protocol reads them), so
// UpdateNamespaceProperties is a plain read-modify-write: of two concurrent
// updates, the last one wins.

func namespaceMarkerKey(ns icebergtable.Identifier) string {
	return namespaceDir(ns) + "/" + namespaceMarker
}

// CreateNamespace creates ns with props; ErrNamespaceAlreadyExists if it
// exists.
func (c *ObjectStoreCatalog) CreateNamespace(ctx context.Context, ns icebergtable.Identifier, props iceberg.Properties) error {
	if err := validateComponents(ns, "namespace"); err != nil {
		return err
	}
	name := strings.Join(ns, ".")
	if props == nil {
		props = iceberg.Properties{}
	}
	data, err := json.Marshal(props)
	if err != nil {
		return fmt.Errorf("create namespace %s: encode properties: %w", name, err)
	}
	if err := c.b.Upload(ctx, indexNamespaces+encodeNamespace(ns), strings.NewReader("")); err != nil {
		return fmt.Errorf("create namespace %s: write listing index: %w", name, err)
	}
	err = c.b.PutIfAbsent(ctx, namespaceMarkerKey(ns), bytes.NewReader(data))
	if errors.Is(err, objstore.ErrExists) {
		return fmt.Errorf("%w: %s", catalog.ErrNamespaceAlreadyExists, name)
	}
	if err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// CheckNamespaceExists reports whether ns has its marker.
func (c *ObjectStoreCatalog) CheckNamespaceExists(ctx context.Context, ns icebergtable.Identifier) (bool, error) {
	if err := validateComponents(ns, "namespace"); err != nil {
		return false, err
	}
	ok, err := c.exists(ctx, namespaceMarkerKey(ns))
	if err != nil {
		return false, fmt.Errorf("check namespace %s: %w", strings.Join(ns, "."), err)
	}
	return ok, nil
}

// LoadNamespaceProperties returns the properties stored in ns's marker.
func (c *ObjectStoreCatalog) LoadNamespaceProperties(ctx context.Context, ns icebergtable.Identifier) (iceberg.Properties, error) {
	if err := validateComponents(ns, "namespace"); err != nil {
		return nil, err
	}
	name := strings.Join(ns, ".")
	data, err := c.readAll(ctx, namespaceMarkerKey(ns))
	if errors.Is(err, objstore.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", catalog.ErrNoSuchNamespace, name)
	}
	if err != nil {
		return nil, fmt.Errorf("load namespace %s: %w", name, err)
	}
	props := iceberg.Properties{}
	if err := json.Unmarshal(data, &props); err != nil {
		return nil, fmt.Errorf("load namespace %s: decode properties: %w", name, err)
	}
	return props, nil
}

// UpdateNamespaceProperties removes and sets properties of ns (last writer
// wins, see above).
func (c *ObjectStoreCatalog) UpdateNamespaceProperties(ctx context.Context, ns icebergtable.Identifier, removals []string, updates iceberg.Properties) (catalog.PropertiesUpdateSummary, error) {
	var sum catalog.PropertiesUpdateSummary
	name := strings.Join(ns, ".")
	for _, k := range removals {
		if _, ok := updates[k]; ok {
			return sum, fmt.Errorf("update namespace %s: property %q is both removed and updated", name, k)
		}
	}
	props, err := c.LoadNamespaceProperties(ctx, ns)
	if err != nil {
		return sum, err
	}
	sum.Removed, sum.Updated, sum.Missing = []string{}, []string{}, []string{}
	for _, k := range removals {
		if _, ok := props[k]; ok {
			delete(props, k)
			sum.Removed = append(sum.Removed, k)
		} else {
			sum.Missing = append(sum.Missing, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(updates)) {
		if v, ok := props[k]; !ok || v != updates[k] {
			props[k] = updates[k]
			sum.Updated = append(sum.Updated, k)
		}
	}
	data, err := json.Marshal(props)
	if err != nil {
		return sum, fmt.Errorf("update namespace %s: encode properties: %w", name, err)
	}
	if err := c.b.Upload(ctx, namespaceMarkerKey(ns), bytes.NewReader(data)); err != nil {
		return sum, fmt.Errorf("update namespace %s: %w", name, err)
	}
	return sum, nil
}

// ListNamespaces lists the direct children of parent (the top-level
// namespaces when parent is empty).
func (c *ObjectStoreCatalog) ListNamespaces(ctx context.Context, parent icebergtable.Identifier) ([]icebergtable.Identifier, error) {
	if len(parent) > 0 {
		if err := validateComponents(parent, "namespace"); err != nil {
			return nil, err
		}
	}
	var candidates []icebergtable.Identifier
	err := c.b.List(ctx, indexNamespaces, func(o objstore.Object) error {
		enc := o.Key[len(indexNamespaces):]
		if enc == "" || strings.Contains(enc, "/") {
			return nil
		}
		ns, err := decodeNamespace(enc)
		if err != nil {
			return err
		}
		if len(ns) == len(parent)+1 && slices.Equal(ns[:len(parent)], parent) {
			candidates = append(candidates, ns)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list namespaces under %q: %w", strings.Join(parent, "."), err)
	}
	out := make([]icebergtable.Identifier, 0, len(candidates))
	for _, ns := range candidates {
		// Skip index entries of namespaces never finished or dropped.
		ok, err := c.CheckNamespaceExists(ctx, ns)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, ns)
		}
	}
	return out, nil
}

// DropNamespace removes an empty namespace: ErrNamespaceNotEmpty if it
// still has tables or child namespaces.
func (c *ObjectStoreCatalog) DropNamespace(ctx context.Context, ns icebergtable.Identifier) error {
	name := strings.Join(ns, ".")
	tables, err := c.listTables(ctx, ns)
	if err != nil {
		return fmt.Errorf("drop namespace %s: %w", name, err)
	}
	children, err := c.ListNamespaces(ctx, ns)
	if err != nil {
		return fmt.Errorf("drop namespace %s: %w", name, err)
	}
	if len(tables) > 0 || len(children) > 0 {
		return fmt.Errorf("drop namespace %s: %w: %d tables, %d child namespaces",
			name, catalog.ErrNamespaceNotEmpty, len(tables), len(children))
	}
	for _, k := range []string{namespaceMarkerKey(ns), indexNamespaces + encodeNamespace(ns)} {
		if err := c.b.Delete(ctx, k); err != nil {
			return fmt.Errorf("drop namespace %s: %w", name, err)
		}
	}
	return nil
}
