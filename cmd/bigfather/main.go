// Command bigfather is the Big Father lakehouse staging ingester. Run
// "bigfather help" for its commands and "bigfather help COMMAND" for one's
// flags and an example (cli.go holds those texts).
//
//	bigfather dev        run everything in process on an embedded default
//	bigfather dev-kafka  a dev Kafka and schema registry, for other tools and bench --kafka spawn
//	bigfather run        the long-running ingest daemon
//	bigfather verify     check exactly-once invariants of the tables
//	bigfather inspect    show tables, snapshots, watermarks and lag
//	bigfather query      run SQL over the tables with DuckDB (scripts/duckdb.mjs)
//	bigfather bench      measure the limit pipelines and the ingester end to end
//	bigfather version    print the version and build info
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// exitUsage is the exit status for a usage error: an unknown command or
// flag, a bad flag value, a missing or extra argument.
const exitUsage = 2

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		writeUsage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		name = "help"
	case "-version", "--version":
		name = "version"
	}
	if helpOf(name) == nil {
		if strings.HasPrefix(name, "-") {
			fmt.Fprintf(stderr, "bigfather: flag %s before a command: flags follow the command, as in bigfather COMMAND [flags]\n", name)
		} else {
			fmt.Fprintf(stderr, "bigfather: unknown command %q\n", name)
		}
		fmt.Fprintln(stderr, `Run "bigfather help" for the commands.`)
		return exitUsage
	}
	var err error
	switch name {
	case "help":
		return cmdHelp(args[1:], stdout, stderr)
	case "version":
		err = cmdVersion(args[1:], stdout)
	default:
		ctx, sig, stop := watchSignals(context.Background(), stderr)
		defer stop()
		switch name {
		case "dev":
			err = cmdDev(ctx, sig, args[1:], stdout, stderr)
		case "dev-kafka":
			err = cmdDevKafka(ctx, args[1:], stdout, stderr)
		case "run":
			err = cmdRun(ctx, sig, args[1:], stdout, stderr)
		case "verify":
			err = cmdVerify(ctx, args[1:], stdout, stderr)
		case "inspect":
			err = cmdInspect(ctx, args[1:], stdout, stderr)
		case "query":
			err = cmdQuery(ctx, args[1:], stdout, stderr)
		case "bench":
			err = cmdBench(ctx, args[1:], stdout, stderr)
		default:
			panic("bigfather: command " + name + " has help but no case in run") // caught by TestCommandHelp
		}
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
		fmt.Fprintf(stderr, "bigfather %s: %v\n", name, err)
		fmt.Fprintf(stderr, "Run \"bigfather help %s\" for its flags and an example.\n", name)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "bigfather %s: %v\n", name, err)
		return 1
	}
}

// cmdHelp writes bigfather's help, or with a command name, that command's
// (as "bigfather COMMAND --help" does).
func cmdHelp(args []string, stdout, stderr io.Writer) int {
	switch {
	case len(args) == 0:
		writeUsage(stdout)
		return 0
	case len(args) > 1:
		fmt.Fprintf(stderr, "bigfather help: usage: unexpected arguments %q: give one command\n", args[1:])
		return exitUsage
	case args[0] == "help" || args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		newFlags("help", stdout).writeHelp(stdout)
		return 0
	case helpOf(args[0]) == nil:
		fmt.Fprintf(stderr, "bigfather help: unknown command %q\n", args[0])
		fmt.Fprintln(stderr, `Run "bigfather help" for the commands.`)
		return exitUsage
	}
	return run([]string{args[0], "--help"}, stdout, stderr)
}

var errUsage = errors.New("usage")

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// setFlags collects --set key.path=value overrides. A value without a key
// is a bad flag value, refused when parsing; what the key names is the
// config's to check.
type setFlags []string

func (s *setFlags) String() string { return fmt.Sprint(*s) }
func (s *setFlags) Set(v string) error {
	if key, _, ok := strings.Cut(v, "="); !ok || key == "" {
		return errors.New("want key.path=value")
	}
	*s = append(*s, v)
	return nil
}
