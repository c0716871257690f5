package ingest

import (
	"context"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/schema/registry"
)

// Registry is what the pipeline asks of the schema registry: a record's
// writer schema by id (schemas.go) and whether it is registered under the
// subject the topic's naming strategy expects (subject.go). A
// *registry.Registry is one.
type Registry interface {
	Get(ctx context.Context, id int) (*registry.WriterSchema, error)
	CheckSubject(ctx context.Context, strategy, topic string, ws *registry.WriterSchema) error
}

// Catalog is what the pipeline asks of the Iceberg catalog: loading its
// tables at assignment (LoadTable), creating one on its first record
// (table.EnsureTable: CheckNamespaceExists, CreateNamespace, CreateTable)
// and committing (table.Committer: CommitTable). Every catalog.Catalog is
// one.
type Catalog interface {
	LoadTable(ctx context.Context, ident icebergtable.Identifier) (*icebergtable.Table, error)
	CheckNamespaceExists(ctx context.Context, ns icebergtable.Identifier) (bool, error)
	CreateNamespace(ctx context.Context, ns icebergtable.Identifier, props iceberg.Properties) error
	CreateTable(ctx context.Context, ident icebergtable.Identifier, sch *iceberg.Schema, opts ...catalog.CreateTableOpt) (*icebergtable.Table, error)
	CommitTable(ctx context.Context, ident icebergtable.Identifier, reqs []icebergtable.Requirement, updates []icebergtable.Update) (icebergtable.Metadata, string, error)
}

var (
	_ Registry = (*registry.Registry)(nil)
	_ Catalog  = catalog.Catalog(nil)
)
