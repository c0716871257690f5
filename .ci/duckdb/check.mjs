// check.mjs reads Parquet data files written by Big Father with DuckDB, a reader that
// Big Father did not write, and checks the exactly-once invariant on them:
//
//   count(*) == --expect N
//   count(DISTINCT (_kafka_partition, _kafka_offset)) == count(*)
//
// Usage: node .ci/duckdb/check.mjs --expect N FILE.parquet [FILE.parquet ...]
//
// Exit codes: 0 when both checks hold, 1 when a check fails, 2 on bad usage or when a
// file cannot be read (a referenced file that does not read breaks the REF invariant,
// which is a failure too, but it is reported apart so the cause is obvious).
//
// Install once with `npm ci --prefix .ci/duckdb` (from the committed lockfile).

import { existsSync } from 'node:fs';
import { DuckDBInstance } from '@duckdb/node-api';

const usage = 'usage: node .ci/duckdb/check.mjs --expect N FILE.parquet [FILE.parquet ...]';

function parseArgs(argv) {
  let expect = null;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--expect' || a === '-expect') {
      expect = argv[++i];
    } else if (a.startsWith('--expect=')) {
      expect = a.slice('--expect='.length);
    } else if (a === '--help' || a === '-h') {
      console.log(usage);
      process.exit(0);
    } else if (a.startsWith('-')) {
      throw new Error(`unknown flag ${a}`);
    } else {
      files.push(a);
    }
  }
  if (expect === null || expect === undefined || !/^\d+$/.test(expect)) {
    throw new Error('--expect needs a non-negative integer');
  }
  if (files.length === 0) {
    throw new Error('no Parquet files given');
  }
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length > 0) {
    throw new Error(`${missing.length} file(s) do not exist, first: ${missing[0]}`);
  }
  return { expect: BigInt(expect), files };
}

// sqlString quotes a value as a SQL string literal. The file list is built into the SQL text
// because read_parquet needs its file list at bind time.
function sqlString(s) {
  return `'${s.replaceAll("'", "''")}'`;
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`check.mjs: ${err.message}\n${usage}`);
    return 2;
  }

  // The CI machine reaches no extension repository; Parquet is built in, so forbid downloads
  // rather than hang on one.
  const instance = await DuckDBInstance.create(':memory:', {
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  const conn = await instance.connect();
  const source =
    `read_parquet([${args.files.map(sqlString).join(', ')}], union_by_name = true)`;

  let total;
  let distinct;
  let perPartition;
  try {
    const summary = await conn.runAndReadAll(
      `SELECT count(*) AS total,
              count(DISTINCT (_kafka_partition, _kafka_offset)) AS distinct_offsets
         FROM ${source}`,
    );
    [[total, distinct]] = summary.getRows();
    const parts = await conn.runAndReadAll(
      `SELECT _kafka_partition, count(*), min(_kafka_offset), max(_kafka_offset)
         FROM ${source} GROUP BY 1 ORDER BY 1`,
    );
    perPartition = parts.getRows();
  } catch (err) {
    console.error(`check.mjs: read ${args.files.length} file(s): ${err.message}`);
    return 2;
  } finally {
    conn.closeSync();
    instance.closeSync();
  }

  console.log(`files: ${args.files.length}`);
  for (const [p, n, lo, hi] of perPartition) {
    console.log(`partition ${p}: rows=${n} offsets=[${lo}, ${hi}]`);
  }
  console.log(`count(*) = ${total} (expected ${args.expect})`);
  console.log(`count(DISTINCT (_kafka_partition, _kafka_offset)) = ${distinct}`);

  let ok = true;
  if (BigInt(total) !== args.expect) {
    console.error(`FAIL: count(*) = ${total}, expected ${args.expect}`);
    ok = false;
  }
  if (BigInt(distinct) !== BigInt(total)) {
    console.error(`FAIL: ${BigInt(total) - BigInt(distinct)} duplicate (partition, offset) rows`);
    ok = false;
  }
  if (ok) {
    console.log('OK: row count matches and every (partition, offset) appears once');
  }
  return ok ? 0 : 1;
}

process.exitCode = await main();
