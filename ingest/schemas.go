package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/internal/backoff"
	"github.com/bigfather/bigfather/schema"
	"github.com/bigfather/bigfather/schema/decode"
	"github.com/bigfather/bigfather/schema/registry"
	"github.com/bigfather/bigfather/table"
)

// writerSchema fetches a writer schema, waiting out registry outages:
// good records are never passed over because the registry is down.
func (p *Pipeline) writerSchema(ctx context.Context, id int) (*registry.WriterSchema, error) {
	wait := backoff.New(250*time.Millisecond, 10*time.Second)
	for {
		ws, err := p.opts.Registry.Get(ctx, id)
		if err == nil || errors.Is(err, registry.ErrUnknownSchema) || errors.Is(err, registry.ErrUnsupportedSchema) {
			p.cond.clear(ProblemRegistry, "")
			return ws, err
		}
		p.m.registryWait.Inc()
		p.cond.set(ProblemRegistry, "", slog.LevelWarn, 0, "schema registry unavailable, ingestion paused: "+err.Error(), "schema_id", id)
		// The poll loop waits here: keep the lag gauges moving.
		p.refreshLag(ctx)
		if err := wait.Wait(ctx); err != nil {
			return nil, err
		}
	}
}

// ensureTable loads or creates table id (table.EnsureTable), waiting out
// a catalog or warehouse that fails meanwhile (an S3 503 storm, a reset
// connection, a bucket being restored) as the catalog problem of that
// table: the process stops only for what no retry can fix, an invalid
// identifier, schema or partition spec.
func (p *Pipeline) ensureTable(ctx context.Context, name string, id icebergtable.Identifier, sch *iceberg.Schema, opts ...catalog.CreateTableOpt) (*icebergtable.Table, error) {
	wait := backoff.New(250*time.Millisecond, 10*time.Second)
	waited := false
	for {
		tbl, err := table.EnsureTable(ctx, p.opts.Catalog, id, sch, nil, opts...)
		if err == nil || ctx.Err() != nil || configError(err) {
			if waited {
				p.cond.clear(ProblemCatalog, name)
			}
			return tbl, err
		}
		waited = true
		p.cond.set(ProblemCatalog, name, slog.LevelError, 0, "cannot create or load table "+name+", ingestion paused: "+err.Error(), "table", name)
		p.refreshLag(ctx)
		if wait.Wait(ctx) != nil {
			return nil, err
		}
	}
}

// configError reports whether err, from creating a table, is one that
// only a config change fixes.
func configError(err error) bool {
	for _, target := range []error{
		catalog.ErrInvalidIdentifier, iceberg.ErrInvalidArgument, iceberg.ErrInvalidSchema,
		iceberg.ErrInvalidPartitionSpec, iceberg.ErrInvalidTransform, table.ErrPartitionSpec,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// fatalError marks an error that must stop the pipeline rather than pass
// a record over (the catalog is unreachable, say).
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// createTable creates ts's table from writer schema ws, the schema of
// the first record kept in it, with the configured partition spec. A
// spec that does not fit ws is a config error (table.ErrPartitionSpec):
// the caller halts, it does not reject. A catalog that fails is fatal.
func (p *Pipeline) createTable(ctx context.Context, ts *tableState, ws *registry.WriterSchema) error {
	sch, err := schema.ToIceberg(ws.Avro)
	if err != nil {
		return fmt.Errorf("schema %d: %w", ws.ID, err)
	}
	var opts []catalog.CreateTableOpt
	if len(ts.partitionBy) > 0 {
		spec, err := table.ParsePartitionSpec(sch, ts.partitionBy)
		if err != nil {
			// The spec names columns of the first writer schema; one
			// that lacks them cannot create the table.
			return fmt.Errorf("table %s: partition_by does not fit writer schema %d: %w", ts.name, ws.ID, err)
		}
		opts = append(opts, catalog.WithPartitionSpec(spec))
	}
	tbl, err := p.ensureTable(ctx, ts.name, ts.id, sch, opts...)
	if err != nil {
		return &fatalError{fmt.Errorf("create table %s: %w", ts.name, err)}
	}
	if err := ts.setTable(tbl); err != nil {
		return &fatalError{err}
	}
	p.log.Info("table ready", "table", ts.name, "location", tbl.Location(), "schema_id", ws.ID)
	return nil
}

// decoder returns the decoder for ws into ts, which exists. When ws needs
// the table's schema to evolve, it also returns the evolution, with a
// decoder into the evolved schema: the caller applies it (applyEvolution)
// only for a record that decoded and is kept, so a record that goes to
// quarantine never changes the table's schema.
func (p *Pipeline) decoder(ts *tableState, ws *registry.WriterSchema) (*decode.Decoder, *evolution, error) {
	if d, ok := ts.decoders[ws]; ok {
		return d, nil, nil
	}
	if err, ok := ts.incompatible[ws]; ok {
		return nil, nil, err
	}
	if ev := ts.evolutions[ws]; ev != nil && ev.base == ts.sch {
		return ev.dec, ev, nil
	}
	ev, err := p.planEvolution(ts, ws)
	if err != nil {
		return nil, nil, err
	}
	if ev == nil {
		d, err := decode.NewDecoder(ws.Avro, ts.sch)
		if err != nil {
			return nil, nil, fmt.Errorf("schema %d into %s: %w", ws.ID, ts.name, err)
		}
		ts.decoders[ws] = d
		return d, nil, nil
	}
	if ts.evolutions == nil {
		ts.evolutions = make(map[*registry.WriterSchema]*evolution)
	}
	ts.evolutions[ws] = ev
	return ev.dec, ev, nil
}

// evolution is a change of a table's schema that records of one writer
// schema need (schema.Evolve), planned but not applied.
type evolution struct {
	base    *iceberg.Schema // the table schema it evolves; stale once ts.sch moves
	next    *iceberg.Schema
	changes []schema.Change
	dec     *decode.Decoder // the writer schema into next
}

// planEvolution decides what ts's schema must become to hold records of
// writer schema ws; nil when it holds them as it is. An incompatible
// writer schema is remembered, counted and logged once; its records are
// rejected.
func (p *Pipeline) planEvolution(ts *tableState, ws *registry.WriterSchema) (*evolution, error) {
	last := max(ts.tbl.Metadata().LastColumnID(), ts.sch.HighestFieldID())
	next, changes, err := schema.Evolve(ts.sch, last, ws.Avro)
	if err != nil {
		if ie, ok := errors.AsType[*schema.IncompatibleError](err); ok {
			ie.SchemaID = ws.ID
		}
		if errors.Is(err, schema.ErrIncompatible) {
			ts.incompatible[ws] = err
			p.m.incompatible.WithLabelValues(ts.name).Inc()
			p.log.Error("incompatible writer schema: its records go to quarantine",
				"table", ts.name, "schema_id", ws.ID, "err", err)
		}
		return nil, err
	}
	if len(changes) == 0 {
		return nil, nil
	}
	d, err := decode.NewDecoder(ws.Avro, next)
	if err != nil {
		return nil, fmt.Errorf("schema %d into the evolved %s: %w", ws.ID, ts.name, err)
	}
	return &evolution{base: ts.sch, next: next, changes: changes, dec: d}, nil
}

// applyEvolution evolves ts's schema as ev planned, for a record of ws
// that decoded and is kept: the change is applied to the schema the next
// batch is written with and committed together with it (and that
// record); the batches open now, decoded under the old schema, are
// committed first, so every commit's files share one schema. It returns
// the decoder for ws into the evolved schema.
func (p *Pipeline) applyEvolution(ctx context.Context, ts *tableState, ws *registry.WriterSchema, ev *evolution) (*decode.Decoder, error) {
	if err := p.flush(ctx, flushSchema); err != nil {
		return nil, err
	}
	if ev.base != ts.sch {
		// The flush moved the table's schema (a commit adopted the
		// catalog's view): plan again from where it is now.
		var err error
		if ev, err = p.planEvolution(ts, ws); err != nil {
			return nil, err
		}
		if ev == nil {
			d, err := decode.NewDecoder(ws.Avro, ts.sch)
			if err != nil {
				return nil, fmt.Errorf("schema %d into %s: %w", ws.ID, ts.name, err)
			}
			ts.decoders[ws] = d
			return d, nil
		}
	}
	arr, err := schema.ArrowSchema(ev.next)
	if err != nil {
		return nil, &fatalError{fmt.Errorf("table %s: arrow schema of the evolved schema: %w", ts.name, err)}
	}
	ts.sch, ts.arr = ev.next, arr
	if err := ts.refreshPartitioner(); err != nil {
		return nil, &fatalError{err}
	}
	clear(ts.decoders)
	clear(ts.incompatible)
	clear(ts.evolutions)
	for _, c := range ev.changes {
		ts.schemaChanges = append(ts.schemaChanges, c.String())
	}
	ts.decoders[ws] = ev.dec
	p.log.Info("evolving table schema with the next commit", "table", ts.name,
		"schema_id", ws.ID, "changes", strings.Join(ts.schemaChanges, "; "))
	return ev.dec, nil
}
