package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	iceberg "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	icebergtable "github.com/apache/iceberg-go/table"

	"github.com/bigfather/bigfather/internal/config"
)

// defaultDuckDBScript is the wrapper query runs, relative to the working
// directory: the repository root, where the README's commands run.
const defaultDuckDBScript = "scripts/duckdb.mjs"

// cmdQuery runs SQL over tables of the config with DuckDB. Each table is a
// view over its current snapshot's data files, named like the table
// (music.tracks), so orphaned files of dropped batches are never read. An
// empty table is an empty DuckDB table with the Iceberg schema, so a query
// over it returns no rows instead of failing.
func cmdQuery(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := newFlags("query", stdout)
	var cf configFlags
	cf.register(fs)
	var tables multiFlag
	fs.Var(&tables, "table", "table the SQL reads, `NS.NAME` (repeatable; default: every table in the config, and each quarantine table)")
	asJSON := fs.Bool("json", false, "print one JSON object per row")
	script := fs.String("duckdb-script", defaultDuckDBScript, "the DuckDB wrapper `FILE` (install it once with npm ci --prefix scripts)")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	sql := pos[0]
	wrapper, err := findScript(*script)
	if err != nil {
		return err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("query runs DuckDB under Node.js (20 or later), and node is not on PATH: %w", err)
	}
	e, scrub, err := openToolEnv(ctx, &cf, stderr)
	if err != nil {
		return err
	}
	defer func() { err = scrub.Error(err) }()
	cfg := e.cfg
	names, all := []string(tables), len(tables) == 0
	if all {
		names = queryTables(cfg)
	}
	var setup strings.Builder
	for _, name := range names {
		tbl, err := loadNamed(ctx, e.cat, name)
		if all && errors.Is(err, catalog.ErrNoSuchTable) {
			continue // not created yet: no pipeline has started on it
		}
		if err != nil {
			return err
		}
		stmt, err := duckdbView(ctx, tbl)
		if err != nil {
			return fmt.Errorf("query %s: %w", name, err)
		}
		setup.WriteString(stmt)
	}
	f, err := os.CreateTemp("", "bigfather-query-*.sql")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(setup.String()); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	argv := []string{wrapper, "--setup", f.Name()}
	if *asJSON {
		argv = append(argv, "--json")
	}
	cmd := exec.CommandContext(ctx, node, append(argv, "--", sql)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			// The wrapper printed why; exit with its status, not a second message.
			return &exitError{code: exit.ExitCode()}
		}
		return fmt.Errorf("run %s: %w", wrapper, err)
	}
	return nil
}

// findScript finds the DuckDB wrapper: as given, or, for the default, also
// beside a binary built into the repository (go build -o bin/bigfather).
func findScript(path string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if path == defaultDuckDBScript {
		if exe, err := os.Executable(); err == nil {
			p := filepath.Join(filepath.Dir(exe), "..", defaultDuckDBScript)
			if _, err := os.Stat(p); err == nil {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%w: DuckDB wrapper %s not found: run from the repository root or pass --duckdb-script PATH", errUsage, path)
}

// queryTables is every table the config routes to, each followed by its
// quarantine table when quarantine is on; routes may share tables.
func queryTables(cfg *config.Config) []string {
	var out []string
	for _, t := range cfg.Tables {
		for _, n := range []string{t.Table, t.Rejects} {
			if n != "" && !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// duckdbView is the DuckDB SQL that makes tbl queryable under its own name:
// a view over the current snapshot's files, or an empty table with its
// schema when it has none (read_parquet cannot learn columns from no file).
func duckdbView(ctx context.Context, tbl *icebergtable.Table) (string, error) {
	id := tbl.Identifier()
	if len(id) < 2 {
		return "", fmt.Errorf("table %v has no namespace", id)
	}
	schema, name := sqlIdent(strings.Join(id[:len(id)-1], ".")), sqlIdent(id[len(id)-1])
	files, err := liveFiles(ctx, tbl)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS %s;\n", schema)
	if len(files) == 0 {
		cols, err := duckdbColumns(tbl.Schema().Fields())
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "CREATE TABLE %s.%s (%s);\n", schema, name, cols)
		return b.String(), nil
	}
	quoted := make([]string, len(files))
	for i, f := range files {
		p := localPath(f)
		if strings.Contains(p, "://") {
			return "", fmt.Errorf("data file %s is not on local disk: query reads local warehouses; "+
				"for object storage use an engine with the warehouse's credentials (see docs/querying.md)", f)
		}
		quoted[i] = sqlString(p)
	}
	fmt.Fprintf(&b, "CREATE VIEW %s.%s AS SELECT * FROM read_parquet([%s], union_by_name = true);\n",
		schema, name, strings.Join(quoted, ", "))
	return b.String(), nil
}

func duckdbColumns(fields []iceberg.NestedField) (string, error) {
	cols := make([]string, len(fields))
	for i, f := range fields {
		t, err := duckdbType(f.Type)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", f.Name, err)
		}
		cols[i] = sqlIdent(f.Name) + " " + t
	}
	return strings.Join(cols, ", "), nil
}

// duckdbType is the DuckDB type DuckDB reads an Iceberg column's Parquet
// data as, so an empty table has the columns a full one would.
func duckdbType(t iceberg.Type) (string, error) {
	switch t := t.(type) {
	case iceberg.BooleanType:
		return "BOOLEAN", nil
	case iceberg.Int32Type:
		return "INTEGER", nil
	case iceberg.Int64Type:
		return "BIGINT", nil
	case iceberg.Float32Type:
		return "FLOAT", nil
	case iceberg.Float64Type:
		return "DOUBLE", nil
	case iceberg.DecimalType:
		return fmt.Sprintf("DECIMAL(%d, %d)", t.Precision(), t.Scale()), nil
	case iceberg.DateType:
		return "DATE", nil
	case iceberg.TimeType:
		return "TIME", nil
	case iceberg.TimestampType:
		return "TIMESTAMP", nil
	case iceberg.TimestampTzType:
		return "TIMESTAMP WITH TIME ZONE", nil
	case iceberg.TimestampNsType:
		return "TIMESTAMP_NS", nil
	case iceberg.TimestampTzNsType:
		return "TIMESTAMP WITH TIME ZONE", nil
	case iceberg.StringType:
		return "VARCHAR", nil
	case iceberg.UUIDType:
		return "UUID", nil
	case iceberg.BinaryType, iceberg.FixedType:
		return "BLOB", nil
	case *iceberg.StructType:
		cols, err := duckdbColumns(t.FieldList)
		if err != nil {
			return "", err
		}
		return "STRUCT(" + cols + ")", nil
	case *iceberg.ListType:
		el, err := duckdbType(t.Element)
		if err != nil {
			return "", err
		}
		return el + "[]", nil
	case *iceberg.MapType:
		k, err := duckdbType(t.KeyType)
		if err != nil {
			return "", err
		}
		v, err := duckdbType(t.ValueType)
		if err != nil {
			return "", err
		}
		return "MAP(" + k + ", " + v + ")", nil
	}
	return "", fmt.Errorf("no DuckDB type for Iceberg type %s", t)
}

// sqlIdent quotes a SQL identifier; sqlString quotes a string literal.
func sqlIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func sqlString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// exitError makes the process exit with code without printing anything:
// the child it ran already said what went wrong.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }
