package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"
)

// runBinary runs the built bigfather with args (and env added to the
// test's environment) and returns its output and exit status.
func runBinary(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, buildBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("bigfather %q: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// commandsForHelp are the commands and one flag each that their help must
// list.
var commandsForHelp = map[string]string{
	"dev":       "--no-ingest",
	"dev-kafka": "--topic",
	"run":       "--set",
	"verify":    "--no-kafka",
	"inspect":   "--paths",
	"query":     "--duckdb-script",
	"bench":     "--freshness-rate",
	"version":   "",
}

func TestHelpListsEveryCommandOnOneLine(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, errOut, code := runBinary(t, nil, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("bigfather %q: exit %d, stderr %q; want 0 and nothing on stderr", args, code, errOut)
		}
		for name := range commandsForHelp {
			if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(name) + ` +\S.*$`).MatchString(out) {
				t.Errorf("bigfather %q lists no line for %s:\n%s", args, name, out)
			}
		}
	}
	// No command at all is a usage error: the list goes to stderr.
	out, errOut, code := runBinary(t, nil)
	if code != exitUsage || out != "" || !strings.Contains(errOut, "  verify ") {
		t.Fatalf("bigfather: exit %d, stdout %q, stderr %q; want %d and the command list on stderr", code, out, errOut, exitUsage)
	}
}

// TestCommandHelp checks each command's help: what it does, its flags and
// an example, the same through "CMD --help", "CMD -h" and "help CMD", on
// stdout with exit 0.
func TestCommandHelp(t *testing.T) {
	for name, flag := range commandsForHelp {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := runBinary(t, nil, name, "--help")
			if code != 0 || errOut != "" {
				t.Fatalf("%s --help: exit %d, stderr %q; want 0 and nothing on stderr", name, code, errOut)
			}
			if !strings.HasPrefix(out, "bigfather "+name+" — ") {
				t.Errorf("%s --help does not start with what the command is:\n%s", name, out)
			}
			if !strings.Contains(out, "\nusage:\n  bigfather "+name) {
				t.Errorf("%s --help has no usage line:\n%s", name, out)
			}
			if flag != "" && !regexp.MustCompile(`(?m)^  `+regexp.QuoteMeta(flag)+`\b`).MatchString(out) {
				t.Errorf("%s --help lists no %s flag:\n%s", name, flag, out)
			}
			if !regexp.MustCompile(`(?m)^examples?:\n  bigfather ` + regexp.QuoteMeta(name) + `\b`).MatchString(out) {
				t.Errorf("%s --help has no example:\n%s", name, out)
			}
			// The text says what the command does, not only its flags: at
			// least one sentence between the usage line and the flags.
			if about := between(out, "\nusage:\n", "\nflags:\n"); strings.Count(about, ". ")+strings.Count(about, ".\n") < 1 {
				t.Errorf("%s --help says nothing about what the command does:\n%s", name, out)
			}
			for _, args := range [][]string{{"help", name}, {name, "-h"}} {
				again, errOut, code := runBinary(t, nil, args...)
				if code != 0 || errOut != "" || again != out {
					t.Errorf("bigfather %q: exit %d, stderr %q, stdout differs from %s --help: %v", args, code, errOut, name, again != out)
				}
			}
		})
	}
}

func between(s, from, to string) string {
	_, after, _ := strings.Cut(s, from)
	before, _, _ := strings.Cut(after, to)
	return before
}

// TestUsageErrorsExit2 checks that every mistake in how bigfather is
// called exits 2 with a message naming it, before anything runs.
func TestUsageErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"nosuch"}, `unknown command "nosuch"`},
		{[]string{"--config", "x.yaml", "run"}, `--config`},
		{[]string{"help", "nosuch"}, `unknown command "nosuch"`},
		{[]string{"help", "run", "verify"}, `unexpected arguments`},
		{[]string{"run", "--bogus"}, `-bogus`},
		{[]string{"inspect", "--config"}, `flag needs an argument: -config`},
		{[]string{"bench", "--records", "many"}, `invalid value "many" for flag -records`},
		{[]string{"dev", "--flush", "5"}, `invalid value "5" for flag -flush`},
		{[]string{"run", "--set", "kafka.brokers"}, `want key.path=value`},
		{[]string{"run"}, `--config is required`},
		{[]string{"query", "--config", "x.yaml"}, `give the SQL as one argument`},
		{[]string{"query", "--config", "x.yaml", "SELECT 1", "SELECT 2"}, `give the SQL as one argument`},
		{[]string{"dev-kafka", "extra"}, `unexpected arguments ["extra"]`},
		{[]string{"version", "extra"}, `unexpected arguments ["extra"]`},
		// A stray argument is refused, whatever follows it: the flags
		// after it were silently ignored.
		{[]string{"verify", "--config", "/nonexistent/config.yaml", "music.tracks"}, `unexpected arguments ["music.tracks"]`},
		{[]string{"run", "extra", "--config", "/nonexistent/config.yaml"}, `unexpected arguments ["extra"]`},
		{[]string{"inspect", "--config", "/nonexistent/config.yaml", "tables", "--json"}, `unexpected arguments ["tables"]`},
		// Flags after the SQL are parsed like those before it.
		{[]string{"query", "SELECT 1", "--bogus"}, `-bogus`},
		{[]string{"query", "SELECT 1", "--duckdb-script", "/nonexistent/duck.mjs"}, `/nonexistent/duck.mjs not found`},
		// After a lone --, everything is the SQL, even what looks like a flag.
		{[]string{"query", "--duckdb-script", "/nonexistent/duck.mjs", "--", "--json"}, `/nonexistent/duck.mjs not found`},
	} {
		out, errOut, code := runBinary(t, nil, tc.args...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("bigfather %q: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, exitUsage, tc.want)
		}
		if out != "" {
			t.Errorf("bigfather %q: stdout %q, want nothing (errors go to stderr)", tc.args, out)
		}
	}
}

// TestFlagAfterSQLApplies runs query with --duckdb-script after the SQL
// and no node on PATH: the wrapper given is found (an ignored flag would
// leave the default, which is not there, a usage error), and the command
// gets as far as looking for node, a runtime failure: exit 1.
func TestFlagAfterSQLApplies(t *testing.T) {
	script := filepath.Join(t.TempDir(), "duck.mjs")
	if err := os.WriteFile(script, []byte("// not run\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := runBinary(t, []string{"PATH=" + t.TempDir()}, "query", "SELECT 1", "--duckdb-script", script, "--config", "/nonexistent/config.yaml")
	if code != 1 || !strings.Contains(errOut, "node is not on PATH") {
		t.Fatalf("query SQL --duckdb-script FILE: exit %d, stderr %q; want 1 and node not found", code, errOut)
	}
}

// TestRuntimeFailureExits1 checks that a failure of the work, not of how
// it was asked for, keeps exit 1 and its message.
func TestRuntimeFailureExits1(t *testing.T) {
	_, errOut, code := runBinary(t, nil, "verify", "--config", "/nonexistent/config.yaml")
	if code != 1 || !strings.Contains(errOut, "bigfather verify: config: open /nonexistent/config.yaml: no such file or directory") {
		t.Fatalf("verify with a missing config: exit %d, stderr %q; want 1 and the open error", code, errOut)
	}
}

// TestVersion checks --version and version against the build info the
// go command stamped into the binary.
func TestVersion(t *testing.T) {
	info, err := buildinfo.ReadFile(buildBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	want := []string{
		"bigfather " + info.Main.Version + "\n",
		"module:    " + info.Main.Path + "\n",
		"go:        " + info.GoVersion + "\n",
		"platform:  " + runtime.GOOS + "/" + runtime.GOARCH + "\n",
	}
	if rev := settings["vcs.revision"]; rev != "" {
		want = append(want,
			"revision:  "+rev+"\n",
			"committed: "+settings["vcs.time"]+"\n",
			"modified:  "+settings["vcs.modified"]+"\n")
	} else {
		want = append(want, "revision:  unknown")
	}
	var first string
	for _, args := range [][]string{{"--version"}, {"version"}, {"-version"}} {
		out, errOut, code := runBinary(t, nil, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("bigfather %q: exit %d, stderr %q; want 0", args, code, errOut)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("bigfather %q prints no %q:\n%s", args, w, out)
			}
		}
		if first == "" {
			first = out
		} else if out != first {
			t.Errorf("bigfather %q differs from --version:\n%s\nvs\n%s", args, out, first)
		}
	}
}

// TestVersionOfAStampedBuild checks the lines of a build the go command
// stamped with its VCS state, which a test build and a build in a git
// worktree lack.
func TestVersionOfAStampedBuild(t *testing.T) {
	var out bytes.Buffer
	writeVersion(&out, &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/bigfather/bigfather", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "faa03a2b7fb197609aba41db2549084c8e5f3e32"},
			{Key: "vcs.time", Value: "2026-12-08T02:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	})
	want := "bigfather v0.3.0\n" +
		"module:    github.com/bigfather/bigfather\n" +
		"revision:  faa03a2b7fb197609aba41db2549084c8e5f3e32\n" +
		"committed: 2026-12-08T02:00:00Z\n" +
		"modified:  true\n" +
		"go:        go1.26.8\n" +
		"platform:  " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	if out.String() != want {
		t.Fatalf("version:\n%s\nwant:\n%s", &out, want)
	}
}

// TestParseInterleavesFlags pins how parse reads flags among arguments:
// as the flag package would have read them before the first argument.
func TestParseInterleavesFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		json    bool
		gc      int
		sets    []string
		pos     []string
		wantErr string
	}{
		{args: []string{"SQL", "--json"}, json: true, pos: []string{"SQL"}},
		{args: []string{"--json=false", "SQL"}, pos: []string{"SQL"}},
		{args: []string{"SQL", "--gc", "-1"}, gc: -1, pos: []string{"SQL"}},                // a flag's value may look like a flag
		{args: []string{"--set", "--", "SQL"}, sets: []string{"--"}, pos: []string{"SQL"}}, // "--" as a value does not end the flags
		{args: []string{"--json", "--", "--gc"}, json: true, pos: []string{"--gc"}},
		{args: []string{"-", "-json"}, json: true, pos: []string{"-"}},
		{args: []string{"SQL", "--nope", "x"}, wantErr: "flag provided but not defined: -nope"},
		{args: []string{"SQL", "--gc"}, wantErr: "flag needs an argument: -gc"},
		{args: []string{"--json"}, wantErr: "give the SQL"},
	} {
		fs := newFlags("query", io.Discard)
		asJSON := fs.Bool("json", false, "")
		gc := fs.Int("gc", 0, "")
		var sets multiFlag
		fs.Var(&sets, "set", "")
		pos, err := fs.parse(tc.args)
		if tc.wantErr != "" {
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("parse %q: %v, want a usage error with %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil || *asJSON != tc.json || *gc != tc.gc || !slices.Equal(sets, tc.sets) || !slices.Equal(pos, tc.pos) {
			t.Errorf("parse %q: json %v, gc %d, sets %q, args %q, err %v; want %v, %d, %q, %q",
				tc.args, *asJSON, *gc, sets, pos, err, tc.json, tc.gc, tc.sets, tc.pos)
		}
	}
}
