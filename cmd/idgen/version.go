package main

import (
	"context"
	"fmt"
	"runtime/debug"
)

func runVersion(_ context.Context, e *env, args []string) int {
	fs := newFlagSet("version", "", `
Print the module version idgen was built from (as go install records it),
the commit when built from a checkout, and the Go version.`)
	if code, done := parseFlags(fs, e, args); done {
		return code
	}
	if fs.NArg() > 0 {
		return usageError(e, "version", "unexpected argument %q", fs.Arg(0))
	}
	fmt.Fprintln(e.stdout, versionLine(debug.ReadBuildInfo()))
	return exitOK
}

// versionLine describes a build: "idgen v0.1.0 (go1.26.8)", or for a
// build from a checkout "idgen (devel) commit 1a2b3c4d5e6f, modified (go1.26.8)".
func versionLine(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "idgen (unknown version: no build information)"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	line := "idgen " + v
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		line += " commit " + rev[:min(12, len(rev))]
		if modified == "true" {
			line += ", modified"
		}
	}
	return line + " (" + bi.GoVersion + ")"
}
