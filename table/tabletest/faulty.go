// Package tabletest holds test support for code that commits to Iceberg
// catalogs: a catalog wrapper that injects commit faults.
package tabletest

import (
	"context"
	"errors"
	"sync/atomic"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"
)

// Injected errors. Neither wraps icebergtable.ErrCommitFailed, so a
// committer must treat both as unknown outcomes.
var (
	ErrResponseLost = errors.New("read tcp: connection reset by peer (response lost)")
	ErrNotForwarded = errors.New("502 bad gateway: request not forwarded")
)

// FaultyCatalog wraps a real catalog. Each armed count fails that many
// commits: LoseAfterApply lets the catalog apply the commit and then
// reports ErrResponseLost (the ambiguous case); FailBefore reports
// ErrNotForwarded without applying anything.
//
// Iceberg tables commit through the catalog they were loaded from, so
// LoadTable returns tables bound to the wrapper.
type FaultyCatalog struct {
	catalog.Catalog
	LoseAfterApply atomic.Int32
	FailBefore     atomic.Int32
	// PassFirst lets that many commits through untouched before the armed
	// faults apply, to aim a fault at a later commit of a flush.
	PassFirst atomic.Int32
	Commits   atomic.Int32 // CommitTable calls seen
	// FailCreate fails that many CreateTable calls with ErrNotForwarded,
	// creating nothing: a catalog or warehouse outage at a table's
	// creation.
	FailCreate atomic.Int32
	// FailLoad fails that many LoadTable calls with ErrNotForwarded: a
	// catalog or warehouse that cannot be read (a bucket deleted, say).
	FailLoad atomic.Int32
}

// LoadTable applies an armed FailLoad, else loads through the wrapped
// catalog and binds the table to f.
func (f *FaultyCatalog) LoadTable(ctx context.Context, id icebergtable.Identifier) (*icebergtable.Table, error) {
	if f.FailLoad.Add(-1) >= 0 {
		return nil, ErrNotForwarded
	}
	tbl, err := f.Catalog.LoadTable(ctx, id)
	if err != nil {
		return nil, err
	}
	return f.Bind(tbl), nil
}

// Bind returns tbl committing through f.
func (f *FaultyCatalog) Bind(tbl *icebergtable.Table) *icebergtable.Table {
	return icebergtable.New(tbl.Identifier(), tbl.Metadata(), tbl.MetadataLocation(), tbl.FS, f)
}

// CreateTable applies an armed FailCreate, else creates through the
// wrapped catalog and binds the table to f.
func (f *FaultyCatalog) CreateTable(ctx context.Context, id icebergtable.Identifier, sch *iceberg.Schema, opts ...catalog.CreateTableOpt) (*icebergtable.Table, error) {
	if f.FailCreate.Add(-1) >= 0 {
		return nil, ErrNotForwarded
	}
	tbl, err := f.Catalog.CreateTable(ctx, id, sch, opts...)
	if err != nil {
		return nil, err
	}
	return f.Bind(tbl), nil
}

// CommitTable applies the armed fault, if any.
func (f *FaultyCatalog) CommitTable(ctx context.Context, id icebergtable.Identifier, reqs []icebergtable.Requirement, ups []icebergtable.Update) (icebergtable.Metadata, string, error) {
	f.Commits.Add(1)
	if f.PassFirst.Add(-1) >= 0 {
		return f.Catalog.CommitTable(ctx, id, reqs, ups)
	}
	if f.FailBefore.Add(-1) >= 0 {
		return nil, "", ErrNotForwarded
	}
	meta, loc, err := f.Catalog.CommitTable(ctx, id, reqs, ups)
	if err == nil && f.LoseAfterApply.Add(-1) >= 0 {
		return nil, "", ErrResponseLost
	}
	return meta, loc, err
}
