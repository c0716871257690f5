// Command bigfather is the Big Father lakehouse staging ingester.
//
//	bigfather dev                      run everything in process on an embedded default
//	bigfather dev-kafka                a dev Kafka and schema registry, for other tools and bench --kafka spawn
//	bigfather run --config FILE        the long-running ingest daemon
//	bigfather verify --config FILE     check exactly-once invariants of a table
//	bigfather inspect --config FILE    show tables, snapshots, watermarks and lag
//	bigfather query --config FILE SQL  run SQL over the tables with DuckDB (scripts/duckdb.mjs)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

const usage = `bigfather — exactly-once Kafka → Iceberg staging ingester

usage:
  bigfather dev     [flags]   in-process Kafka, registry, sample producer and ingest into ./warehouse
  bigfather dev-kafka [--kafka-addr ADDR] [--registry-addr ADDR] [--topic NAME:PARTITIONS ...]
                              a dev Kafka and schema registry (in memory, 127.0.0.1) for other tools and for bench --kafka spawn
  bigfather run     --config FILE [--set key=value ...]
  bigfather verify  --config FILE [--table NS.NAME] [--json] [--no-kafka]
  bigfather inspect --config FILE [--table NS.NAME] [--files] [--json | --paths]
  bigfather query   --config FILE [--table NS.NAME ...] [--json] "SQL"   DuckDB over the tables' live files (npm ci --prefix scripts)
  bigfather bench   [--workload tracks|small|wide] [--records N] [--partitions P] [--kafka in-process|spawn|host:port] [--warehouse DIR|s3://…] [--json] [--svg FILE] [--scale F] [--freshness-rate N] [--freshness-duration D] [--freshness-flush D]

Run "bigfather COMMAND -h" for a command's flags.
`

// exitUsage is the exit status for bad flags or arguments.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	ctx, sig, stop := watchSignals(context.Background(), stderr)
	defer stop()
	var err error
	switch args[0] {
	case "dev":
		err = cmdDev(ctx, sig, args[1:], stdout, stderr)
	case "dev-kafka":
		err = cmdDevKafka(ctx, args[1:], stdout, stderr)
	case "run":
		err = cmdRun(ctx, sig, args[1:], stderr)
	case "verify":
		err = cmdVerify(ctx, args[1:], stdout, stderr)
	case "inspect":
		err = cmdInspect(ctx, args[1:], stdout, stderr)
	case "query":
		err = cmdQuery(ctx, args[1:], stdout, stderr)
	case "bench":
		err = cmdBench(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "bigfather: unknown command %q\n\n%s", args[0], usage)
		return exitUsage
	}
	var exit *exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &exit):
		return exit.code
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "bigfather %s: %v\n", args[0], err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "bigfather %s: %v\n", args[0], err)
		return 1
	}
}

var errUsage = errors.New("usage")

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
