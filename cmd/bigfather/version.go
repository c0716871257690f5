package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// cmdVersion prints the version and the build info the go command stamped
// into the binary: a bug report then names the exact source it came from.
func cmdVersion(args []string, stdout io.Writer) error {
	fs := newFlags("version", stdout)
	if _, err := fs.parse(args); err != nil {
		return err
	}
	info, _ := debug.ReadBuildInfo()
	writeVersion(stdout, info)
	return nil
}

// writeVersion writes info, which is nil when the binary carries none.
func writeVersion(w io.Writer, info *debug.BuildInfo) {
	version, module, goVersion := "(unknown)", "github.com/bigfather/bigfather", runtime.Version()
	settings := map[string]string{}
	if info != nil {
		version, goVersion = info.Main.Version, info.GoVersion
		if info.Main.Path != "" {
			module = info.Main.Path
		}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
	}
	fmt.Fprintf(w, "bigfather %s\n", version)
	fmt.Fprintf(w, "module:    %s\n", module)
	if rev := settings["vcs.revision"]; rev != "" {
		fmt.Fprintf(w, "revision:  %s\n", rev)
		fmt.Fprintf(w, "committed: %s\n", settings["vcs.time"])
		fmt.Fprintf(w, "modified:  %s\n", settings["vcs.modified"])
	} else {
		// go run, or a build outside a checkout or with -buildvcs=false.
		fmt.Fprintln(w, "revision:  unknown (built without VCS information)")
	}
	fmt.Fprintf(w, "go:        %s\n", goVersion)
	fmt.Fprintf(w, "platform:  %s/%s\n", runtime.GOOS, runtime.GOARCH)
}
