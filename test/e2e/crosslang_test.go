package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPythonPaymentToTypeScriptAccounting is TestPaymentToAccounting with
// the payment service in Python (examples/python, courier_client's
// producer) and the accounting service in TypeScript (examples/typescript,
// @courier-mq/client's consumer): the same kills, the same checks. The Go,
// Python and TypeScript clients share the API and the tables, so the two
// services need nothing from each other but the topic.
//
// It needs /usr/bin/python3 and node with npm, and fails without them.
func TestPythonPaymentToTypeScriptAccounting(t *testing.T) {
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	python := "/usr/bin/python3"
	_, err = os.Stat(python)
	require.NoError(t, err, "the Python example needs %s", python)
	node, err := exec.LookPath("node")
	require.NoError(t, err, "the TypeScript example needs node")

	accounting := buildTypeScriptAccounting(t, root)
	// courier_client as the README installs it without pip.
	t.Setenv("PYTHONPATH", filepath.Join(root, "clients", "python"))

	runPaymentToAccounting(t, t.TempDir(), services{
		payment:    command{bin: python, args: []string{filepath.Join(root, "examples", "python", "payment.py")}},
		accounting: command{bin: node, args: []string{accounting}},
	})
}

// buildTypeScriptAccounting builds @courier-mq/client and the accounting
// example, which depends on it as file:../../clients/typescript, as
// clients/typescript/ci.sh builds the client; it returns the example's
// script. `npm ci` runs only where node_modules is missing or older than
// package-lock.json: better-sqlite3 compiles for a minute or two without a
// prebuilt binary.
func buildTypeScriptAccounting(t *testing.T, root string) string {
	npm, err := exec.LookPath("npm")
	require.NoError(t, err, "the TypeScript example needs npm")
	run := func(dir string, args ...string) {
		cmd := exec.CommandContext(t.Context(), npm, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "npm %v in %s: %s", args, dir, out)
	}
	for _, dir := range []string{filepath.Join(root, "clients", "typescript"), filepath.Join(root, "examples", "typescript")} {
		if installed(dir) {
			t.Logf("%s: node_modules up to date, no npm ci", dir)
		} else {
			start := time.Now()
			run(dir, "ci", "--no-audit", "--no-fund")
			t.Logf("%s: npm ci took %s", dir, time.Since(start).Round(time.Second))
		}
		run(dir, "run", "build")
	}
	return filepath.Join(root, "examples", "typescript", "dist", "accounting.js")
}

// installed says whether npm ci ran in dir since its package-lock.json last
// changed.
func installed(dir string) bool {
	lock, err := os.Stat(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		return false
	}
	done, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json"))
	return err == nil && !done.ModTime().Before(lock.ModTime())
}
