package main

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestVersionLine(t *testing.T) {
	t.Parallel()
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tc := range []struct {
		name     string
		override string
		info     *debug.BuildInfo
		want     []string
	}{{
		name: "tagged module, clean tree",
		info: &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: vcs(
			"vcs.revision", "0123456789abcdef", "vcs.time", "2026-11-30T10:00:00Z", "vcs.modified", "false")},
		want: []string{"courier v1.4.0, revision 0123456789abcdef (committed 2026-11-30T10:00:00Z),"},
	}, {
		name: "pseudo-version, modified tree",
		info: &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261130100000-0123456789ab+dirty"}, Settings: vcs(
			"vcs.revision", "0123456789abcdef", "vcs.time", "2026-11-30T10:00:00Z", "vcs.modified", "true")},
		want: []string{"courier v0.0.0-20261130100000-0123456789ab+dirty, revision 0123456789abcdef (committed 2026-11-30T10:00:00Z, with uncommitted changes),"},
	}, {
		name:     "ldflags override wins over the module version",
		override: "v2.0.0",
		info:     &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
		want:     []string{"courier v2.0.0, revision unknown (built without VCS information),"},
	}, {
		name: "no VCS information",
		info: &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}},
		want: []string{"courier (devel), revision unknown (built without VCS information),"},
	}, {
		name: "no build info",
		want: []string{"courier (devel), revision unknown"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			line := versionLine(tc.override, tc.info)
			for _, w := range tc.want {
				require.Contains(t, line, w)
			}
			require.Contains(t, line, " go1.")
		})
	}
}

// TestVersionCommand runs `courier version` from binaries built the two ways
// they are shipped: plain go build, and the Dockerfile's -ldflags override.
func TestVersionCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the courier binary")
	}
	t.Parallel()
	bin := buildCourier(t)
	out, err := exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	line := strings.TrimSpace(string(out))
	// go build stamps the revision only in a git checkout whose .git is a
	// directory (not in a worktree) and without -buildvcs=false.
	if info, err := exec.Command("go", "version", "-m", bin).Output(); err == nil && strings.Contains(string(info), "vcs.revision=") {
		head, err := exec.Command("git", "rev-parse", "HEAD").Output()
		require.NoError(t, err)
		require.Contains(t, line, "revision "+strings.TrimSpace(string(head)))
	} else {
		require.Contains(t, line, "courier (devel), revision unknown (built without VCS information)")
	}

	tagged := filepath.Join(t.TempDir(), "courier")
	build := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7", "-o", tagged, ".")
	b, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", b)
	out, err = exec.Command(tagged, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.True(t, strings.HasPrefix(string(out), "courier v9.8.7, revision "), "%s", out)
}
