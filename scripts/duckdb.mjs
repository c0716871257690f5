// duckdb.mjs runs SQL in an in-memory DuckDB and prints the rows of the last statement. It is
// the DuckDB command line for machines that have none: Debian ships no duckdb package, and npm's
// `duckdb` package has no CLI. `bigfather query` runs it; it can also be run by hand.
//
//   node scripts/duckdb.mjs [--json] [--view NAME=LIST ...] [--setup FILE] [--] SQL
//
//   --view NAME=LIST  a view NAME over the Parquet files listed in LIST, one path a line, as
//                     `bigfather inspect --paths` prints them ("-" reads the list from stdin).
//                     NAME may be qualified (music.tracks); its schema is created.
//   --setup FILE      SQL run before SQL (what `bigfather query` passes: the tables as views)
//   --json            one JSON object per row instead of a header and tab-separated rows
//
// Rows print as a header line, then one line per row, tab-separated; NULL prints as NULL,
// nested values as JSON. Exit codes: 0 ok, 1 the SQL failed, 2 bad usage or not installed.
//
// Install once with `npm ci --prefix scripts` (the committed lockfile pins DuckDB).

import { readFileSync } from 'node:fs';

const usage = 'usage: node scripts/duckdb.mjs [--json] [--view NAME=LIST ...] [--setup FILE] [--] SQL';

function parseArgs(argv) {
  const out = { json: false, views: [], setup: [], sql: null };
  let flags = true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (flags && a === '--') {
      flags = false; // the SQL follows, even one that starts with "-" (a comment)
      continue;
    }
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (!flags || !a.startsWith('-') || a === '-') {
      if (out.sql !== null) throw new Error('give the SQL as one argument (quote it)');
      out.sql = a;
    } else if (a === '--json') {
      out.json = true;
    } else if (a === '--view') {
      const v = value();
      const eq = v.indexOf('=');
      if (eq <= 0 || eq === v.length - 1) throw new Error(`--view ${v}: want NAME=LIST`);
      out.views.push({ name: v.slice(0, eq), list: v.slice(eq + 1) });
    } else if (a === '--setup') {
      out.setup.push(value());
    } else if (a === '--help' || a === '-h') {
      console.log(usage);
      process.exit(0);
    } else {
      throw new Error(`unknown flag ${a}`);
    }
  }
  if (out.sql === null || out.sql.trim() === '') throw new Error('no SQL given');
  return out;
}

// ident quotes a SQL identifier; qualified splits NAME at its last dot into schema and name.
const ident = (s) => `"${s.replaceAll('"', '""')}"`;
const str = (s) => `'${s.replaceAll("'", "''")}'`;
function qualified(name) {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? { schema: null, name } : { schema: name.slice(0, dot), name: name.slice(dot + 1) };
}

function viewSQL({ name, list }) {
  const text = readFileSync(list === '-' ? 0 : list, 'utf8');
  const files = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (files.length === 0) {
    // read_parquet needs a file to learn the columns from; bigfather query knows the table's
    // schema and makes an empty table instead.
    throw new Error(`--view ${name}: ${list} lists no files (the table has no rows yet); ` +
      'bigfather query handles empty tables');
  }
  const q = qualified(name);
  const target = q.schema === null ? ident(q.name) : `${ident(q.schema)}.${ident(q.name)}`;
  const schema = q.schema === null ? '' : `CREATE SCHEMA IF NOT EXISTS ${ident(q.schema)};\n`;
  return `${schema}CREATE VIEW ${target} AS SELECT * FROM read_parquet([${files.map(str).join(', ')}], union_by_name = true);`;
}

// cell renders one value of getRowsJson for the tab-separated output.
function cell(v) {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'string') return v.replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

async function main() {
  let args;
  let setup;
  try {
    args = parseArgs(process.argv.slice(2));
    setup = [...args.setup.map((f) => readFileSync(f, 'utf8')), ...args.views.map(viewSQL)];
  } catch (err) {
    console.error(`duckdb.mjs: ${err.message}\n${usage}`);
    return 2;
  }
  let duckdb;
  try {
    duckdb = await import('@duckdb/node-api');
  } catch (err) {
    console.error(`duckdb.mjs: @duckdb/node-api is not installed (${err.code ?? err.message}); ` +
      'install it once with: npm ci --prefix scripts');
    return 2;
  }
  // Parquet is built in; forbid extension downloads rather than hang on a machine offline.
  const instance = await duckdb.DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const conn = await instance.connect();
  try {
    for (const s of setup) await conn.run(s);
    const reader = await conn.runAndReadAll(args.sql);
    if (args.json) {
      for (const row of reader.getRowObjectsJson()) process.stdout.write(`${JSON.stringify(row)}\n`);
    } else {
      const lines = [reader.columnNames().map(cell).join('\t')];
      for (const row of reader.getRowsJson()) lines.push(row.map(cell).join('\t'));
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return 0;
  } catch (err) {
    console.error(`duckdb.mjs: ${err.message}`);
    return 1;
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

process.exitCode = await main();
