package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// commandHelp is what help says of one command. The command's flags come
// from its flag set, so that they are never listed apart from their
// definitions.
type commandHelp struct {
	name     string
	summary  string // one line in the command list
	synopsis string // the usage line after "bigfather NAME"
	about    string // what the command does, in sentences
	examples []string
	// args is how many positional arguments the command takes, and
	// argsHint what to say when it gets another count ("" says
	// "unexpected arguments").
	args     int
	argsHint string
}

// exitStatus is the exit status paragraph of the help texts.
const exitStatus = `exit status: 0 on success; 1 when the command fails (verify: also when it
finds a violation); 2 for a usage error: an unknown command or flag, a bad
flag value, a missing or extra argument. A second SIGINT or SIGTERM exits at
once with 128+signal.`

// commands are bigfather's commands in the order help lists them.
var commands = []*commandHelp{
	{
		name:     "dev",
		summary:  "run Kafka, a schema registry, a sample producer and the ingester in process, into ./warehouse",
		synopsis: "[flags]",
		about: `Starts an in-memory Kafka broker and schema registry on 127.0.0.1, a producer
of sample music tracks (registry-framed Avro) into topic "tracks", and the
ingester, which commits them exactly once into the Iceberg table music.tracks
of a local warehouse with a SQLite catalog. It writes the config it runs
(DIR/bigfather-dev.yaml), which run, verify, inspect and query take, and
prints a status line every two seconds. Ctrl-C stops it cleanly; running it
again resumes where it stopped, since Kafka's data lives in the warehouse
too.`,
		examples: []string{
			"bigfather dev --total 3000 --rate 1000 --flush 1s",
			"bigfather dev --no-ingest --metrics-addr ''   # Kafka, registry and producer for an external bigfather run",
		},
	},
	{
		name:     "dev-kafka",
		summary:  "run a dev Kafka and schema registry (in memory, 127.0.0.1) for other tools and bench --kafka spawn",
		synopsis: "[--kafka-addr ADDR] [--registry-addr ADDR] [--topic NAME[:PARTITIONS] ...]",
		about: `Runs an in-memory Kafka broker (kfake) and schema registry (srfake) on the
loopback interface until SIGINT or SIGTERM, and nothing else. Once both
listen it prints one line on stdout, "kafka=HOST:PORT registry=URL", and
nothing else there: with port 0 that line is how a parent learns the ports
picked. Logs go to stderr.`,
		examples: []string{
			"bigfather dev-kafka --kafka-addr 127.0.0.1:0 --registry-addr 127.0.0.1:0 --topic tracks:8",
		},
	},
	{
		name:     "run",
		summary:  "the long-running ingest daemon",
		synopsis: "--config FILE [--set key=value ...]",
		about: `Runs the pipeline of the config file: consumes the configured topics in its
consumer group, decodes, validates, transforms and routes each record, and
commits batches to the Iceberg tables exactly once, with the Kafka offsets
in the table. Rejected records go to each table's quarantine table. It
serves /metrics, /healthz and /readyz on metrics.addr. SIGINT or SIGTERM
stop it gracefully within shutdown_timeout. --set overrides a key of the
file, as written in the configuration reference.`,
		examples: []string{
			"bigfather run --config examples/music-catalog/config.yaml --set flush.max_latency=2s",
		},
	},
	{
		name:     "verify",
		summary:  "check the exactly-once invariants of tables against Kafka",
		synopsis: "--config FILE [--table NS.NAME ...] [--json] [--no-kafka]",
		about: `Checks the exactly-once (EO) and monotonic-watermark (MONO) invariants of
the config's tables for its pipeline, per partition: no offset twice, none
at or above the watermark, committed ranges contiguous. When the brokers are
reachable it also reads every partition the tables are fed from and checks
that every offset a read_committed consumer gets below the watermark is in
the tables (or their quarantine tables), and nothing else is. It exits 1 on
any violation.`,
		examples: []string{
			"bigfather verify --config warehouse/bigfather-dev.yaml --table music.tracks",
		},
	},
	{
		name:     "inspect",
		summary:  "show tables, snapshots, watermarks and lag",
		synopsis: "--config FILE [--table NS.NAME ...] [--files] [--json | --paths]",
		about: `Shows each table of the config: its location and current metadata file, its
snapshots (with the pipeline and commit id that wrote them), the watermarks
of every pipeline per partition, the lag against the brokers when they are
reachable, and with --files the data files of the current snapshot. --paths
prints only those files, one per line, for readers and shell loops.`,
		examples: []string{
			"bigfather inspect --config warehouse/bigfather-dev.yaml --table music.tracks --files",
		},
	},
	{
		name:     "query",
		summary:  "run SQL over the tables with DuckDB",
		synopsis: `--config FILE [--table NS.NAME ...] [--json] "SQL"`,
		about: `Runs one SQL statement with DuckDB over the config's tables (default: every
table and its quarantine table). Each table is a view under its own name
(music.tracks) over its current snapshot's data files. It needs Node.js 20
or later and the DuckDB wrapper: npm ci --prefix scripts. Flags may come
before or after the SQL; after a lone --, the next argument is the SQL even
if it starts with a dash.`,
		examples: []string{
			`bigfather query --config warehouse/bigfather-dev.yaml "SELECT count(*) AS tracks FROM music.tracks"`,
		},
		args:     1,
		argsHint: `give the SQL as one argument (quote it), e.g. "SELECT count(*) FROM music.tracks"`,
	},
	{
		name:     "bench",
		summary:  "measure the limit pipelines and the ingester end to end on a workload",
		synopsis: "[--workload tracks|small|wide] [--records N] [--partitions P] [--kafka in-process|spawn|HOST:PORT] [flags]",
		about: `Loads a workload into Kafka, then measures the limit pipelines on it (L0
fetch, L1 fetch and decode, L2 Parquet encode, L3 upload) and the real
pipeline end to end on the same data, then freshness under a steady produce
rate, and prints the report: the headline is end to end divided by the
composed bound. Results and the commands behind them are in bench/RESULTS.md.`,
		examples: []string{
			"bigfather bench --workload small --records 1000000 --partitions 8 --kafka spawn",
		},
	},
	{
		name:     "help",
		summary:  "show the commands, or a command's help",
		synopsis: "[COMMAND]",
		about:    `With no command, lists the commands. With one, shows what it does, its flags and an example, as "bigfather COMMAND --help" does.`,
		examples: []string{"bigfather help run"},
	},
	{
		name:     "version",
		summary:  "print the version and build info",
		synopsis: "",
		about: `Prints the module version, the VCS revision and commit time the binary was
built from and whether the tree had changes, the Go version and the
platform. "bigfather --version" does the same.`,
		examples: []string{"bigfather version"},
	},
}

func helpOf(name string) *commandHelp {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// writeUsage writes bigfather's own help: the commands, one line each.
func writeUsage(w io.Writer) {
	fmt.Fprint(w, "bigfather — exactly-once Kafka → Iceberg staging ingester\n\n")
	fmt.Fprint(w, "usage:\n  bigfather COMMAND [flags] [arguments]\n\ncommands:\n")
	width := 0
	for _, c := range commands {
		width = max(width, len(c.name))
	}
	for _, c := range commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprint(w, "\nFlags follow the command, before or after its arguments (a lone -- ends\n"+
		"them). Run \"bigfather help COMMAND\" or \"bigfather COMMAND --help\" for what a\n"+
		"command does, its flags and an example.\n\n")
	fmt.Fprintln(w, exitStatus)
}

// cmdFlags is a command's flag set. The flag package's own output is
// off: parse reports a mistake as a usage error, which main prints once,
// and help goes to stdout, where it was asked for.
type cmdFlags struct {
	*flag.FlagSet
	help   *commandHelp
	stdout io.Writer
}

func newFlags(name string, stdout io.Writer) *cmdFlags {
	h := helpOf(name)
	if h == nil {
		panic("bigfather: no help for command " + name) // a programming error, caught by TestCommandHelp
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &cmdFlags{FlagSet: fs, help: h, stdout: stdout}
}

// parse parses args and returns the positional arguments. Flags may come
// before or after positional arguments (interleaved, as most CLIs do: a
// flag after an argument was silently ignored by the flag package), and a
// lone "--" ends them. -h or --help writes the command's help to stdout and
// returns flag.ErrHelp; any other mistake, and a count of positional
// arguments other than the command takes, is an errUsage.
func (c *cmdFlags) parse(args []string) ([]string, error) {
	flags, pos := c.split(args)
	if err := c.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.writeHelp(c.stdout)
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	switch {
	case len(pos) == c.help.args:
	case c.help.argsHint != "":
		return nil, fmt.Errorf("%w: %s", errUsage, c.help.argsHint)
	case len(pos) < c.help.args:
		return nil, fmt.Errorf("%w: %d arguments missing", errUsage, c.help.args-len(pos))
	default:
		return nil, fmt.Errorf("%w: unexpected arguments %q", errUsage, pos[c.help.args:])
	}
	return pos, nil
}

// split separates flags (with their values) from positional arguments,
// reading each flag as the flag package will: "-name=value" and a boolean
// flag are one argument, another known flag takes the next one as its
// value, whatever it looks like. An unknown flag stays among the flags for
// Parse to report.
func (c *cmdFlags) split(args []string) (flags, pos []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(pos, args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimPrefix(a[1:], "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := c.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, pos
}

// writeHelp writes what the command does, its usage, flags and examples.
func (c *cmdFlags) writeHelp(w io.Writer) {
	h := c.help
	fmt.Fprintf(w, "bigfather %s — %s\n\nusage:\n  %s\n\n%s\n", h.name, h.summary,
		strings.TrimSpace("bigfather "+h.name+" "+h.synopsis), h.about)
	n := 0
	c.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nflags:\n")
		c.VisitAll(func(f *flag.Flag) { writeFlag(w, f) })
	}
	if len(h.examples) == 1 {
		fmt.Fprint(w, "\nexample:\n")
	} else {
		fmt.Fprint(w, "\nexamples:\n")
	}
	for _, e := range h.examples {
		fmt.Fprintf(w, "  %s\n", e)
	}
	fmt.Fprintf(w, "\n%s\n", exitStatus)
}

// writeFlag writes one flag as "--name VALUE", its usage and its default.
func writeFlag(w io.Writer, f *flag.Flag) {
	value, usage := flag.UnquoteUsage(f)
	line := "  --" + f.Name
	if value != "" {
		line += " " + value
	}
	if !isZeroDefault(f) {
		switch {
		case reflect.TypeOf(f.Value).String() == "*flag.stringValue": // as PrintDefaults: a string default quoted
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		case f.DefValue == "true":
			usage += fmt.Sprintf(" (default true; --%s=false turns it off)", f.Name)
		default:
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
	}
	fmt.Fprintf(w, "%s\n%s", line, wrap(usage, "      ", 80))
}

// wrap breaks text into lines of at most width columns (a longer word
// stays whole), each starting with indent.
func wrap(text, indent string, width int) string {
	var b strings.Builder
	n := 0
	for _, word := range strings.Fields(text) {
		l := utf8.RuneCountInString(word)
		if n > 0 && n+1+l > width {
			b.WriteString("\n")
			n = 0
		}
		if n == 0 {
			b.WriteString(indent)
			n = len(indent)
		} else {
			b.WriteString(" ")
			n++
		}
		b.WriteString(word)
		n += l
	}
	b.WriteString("\n")
	return b.String()
}

// isZeroDefault reports whether f's default is its type's zero value,
// which help does not show, as the flag package does not.
func isZeroDefault(f *flag.Flag) bool {
	t := reflect.TypeOf(f.Value)
	var z reflect.Value
	if t.Kind() == reflect.Pointer {
		z = reflect.New(t.Elem())
	} else {
		z = reflect.Zero(t)
	}
	v, ok := z.Interface().(flag.Value)
	return ok && f.DefValue == v.String()
}
