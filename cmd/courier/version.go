package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version overrides the module version from the build info when set at build
// time: -ldflags "-X main.version=v1.2.3" (the Dockerfile does, since
// `go build` in a container without .git knows no version).
var version = ""

func printVersion(out io.Writer) {
	info, _ := debug.ReadBuildInfo()
	fmt.Fprintln(out, versionLine(version, info))
}

// versionLine says which build this is: the version (the -ldflags override,
// else the module's), the VCS revision with its commit time and whether the
// tree had uncommitted changes, and the Go toolchain. A build without VCS
// information (go build -buildvcs=false, a git worktree, a source tarball)
// says so rather than printing nothing.
func versionLine(override string, info *debug.BuildInfo) string {
	v := override
	if v == "" && info != nil {
		v = info.Main.Version
	}
	if v == "" || v == "(devel)" {
		v = "(devel)"
	}
	vcs := map[string]string{}
	if info != nil {
		for _, s := range info.Settings {
			vcs[s.Key] = s.Value
		}
	}
	rev := "revision unknown (built without VCS information)"
	if r := vcs["vcs.revision"]; r != "" {
		rev = "revision " + r
		var notes []string
		if t := vcs["vcs.time"]; t != "" {
			notes = append(notes, "committed "+t)
		}
		if vcs["vcs.modified"] == "true" {
			notes = append(notes, "with uncommitted changes")
		}
		if len(notes) > 0 {
			rev += " (" + strings.Join(notes, ", ") + ")"
		}
	}
	return fmt.Sprintf("courier %s, %s, %s %s/%s", v, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
