package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/apache/iceberg-go/catalog"

	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/table"
)

// writerSchema fetches a writer schema, waiting out registry outages:
// good records are never passed over because the registry is down.
func (p *Pipeline) writerSchema(ctx context.Context, id int) (*schema.WriterSchema, error) {
	wait := 250 * time.Millisecond
	for {
		ws, err := p.opts.Registry.Get(ctx, id)
		if err == nil || errors.Is(err, schema.ErrUnknownSchema) || errors.Is(err, schema.ErrUnsupportedSchema) {
			p.cond.clear(ProblemRegistry, "")
			return ws, err
		}
		p.m.registryWait.Inc()
		p.cond.set(ProblemRegistry, "", slog.LevelWarn, 0, "schema registry unavailable, ingestion paused: "+err.Error(), "schema_id", id)
		// The poll loop waits here: keep the lag gauges moving.
		p.refreshLag(ctx)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// fatalError marks an error that must stop the pipeline rather than pass
// a record over (the catalog is unreachable, say).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// decoder returns the decoder for ws into ts, creating the table from the
// writer schema on first use.
func (p *Pipeline) decoder(ctx context.Context, ts *tableState, ws *schema.WriterSchema) (*schema.Decoder, error) {
	if ts.tbl == nil {
		sch, err := schema.ToIceberg(ws.Avro)
		if err != nil {
			return nil, fmt.Errorf("schema %d: %w", ws.ID, err)
		}
		var opts []catalog.CreateTableOpt
		if len(ts.partitionBy) > 0 {
			spec, err := table.ParsePartitionSpec(sch, ts.partitionBy)
			if err != nil {
				// The spec names columns of the first writer schema; one
				// that lacks them cannot create the table.
				return nil, fmt.Errorf("schema %d: %w", ws.ID, err)
			}
			opts = append(opts, catalog.WithPartitionSpec(spec))
		}
		tbl, err := table.EnsureTable(ctx, p.opts.Catalog, ts.id, sch, nil, opts...)
		if err != nil {
			return nil, &fatalError{fmt.Errorf("create table %s: %w", ts.name, err)}
		}
		if err := ts.setTable(tbl); err != nil {
			return nil, &fatalError{err}
		}
		p.opts.Logger.Info("table ready", "table", ts.name, "location", tbl.Location(), "schema_id", ws.ID)
	}
	if d, ok := ts.decoders[ws]; ok {
		return d, nil
	}
	if err, ok := ts.incompatible[ws]; ok {
		return nil, err
	}
	if err := p.evolve(ctx, ts, ws); err != nil {
		return nil, err
	}
	d, err := schema.NewDecoder(ws.Avro, ts.sch)
	if err != nil {
		return nil, fmt.Errorf("schema %d into %s: %w", ws.ID, ts.name, err)
	}
	ts.decoders[ws] = d
	return d, nil
}

// evolve makes ts's schema able to hold records of writer schema ws
// (schema.Evolve): a compatible change is applied to the schema the next
// batch is written with and committed together with it; the batches open
// now, decoded under the old schema, are committed first, so every
// commit's files share one schema. An incompatible writer schema is
// remembered, counted and logged once; its records are rejected.
func (p *Pipeline) evolve(ctx context.Context, ts *tableState, ws *schema.WriterSchema) error {
	last := max(ts.tbl.Metadata().LastColumnID(), ts.sch.HighestFieldID())
	next, changes, err := schema.Evolve(ts.sch, last, ws.Avro)
	if err != nil {
		if ie, ok := errors.AsType[*schema.IncompatibleError](err); ok {
			ie.SchemaID = ws.ID
		}
		if errors.Is(err, schema.ErrIncompatible) {
			ts.incompatible[ws] = err
			p.m.incompatible.WithLabelValues(ts.name).Inc()
			p.opts.Logger.Error("incompatible writer schema: its records go to quarantine", "pipeline", p.opts.Pipeline,
				"table", ts.name, "schema_id", ws.ID, "err", err)
		}
		return err
	}
	if len(changes) == 0 {
		return nil
	}
	if err := p.flush(ctx, "schema"); err != nil {
		return err
	}
	arr, err := schema.ArrowSchema(next)
	if err != nil {
		return &fatalError{fmt.Errorf("table %s: arrow schema of the evolved schema: %w", ts.name, err)}
	}
	ts.sch, ts.arr = next, arr
	if err := ts.refreshPartitioner(); err != nil {
		return &fatalError{err}
	}
	clear(ts.decoders)
	clear(ts.incompatible)
	for _, c := range changes {
		ts.schemaChanges = append(ts.schemaChanges, c.String())
	}
	p.opts.Logger.Info("evolving table schema with the next commit", "pipeline", p.opts.Pipeline, "table", ts.name,
		"schema_id", ws.ID, "changes", strings.Join(ts.schemaChanges, "; "))
	return nil
}
