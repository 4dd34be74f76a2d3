// Package settings is how the example services read their configuration:
// a flag's default from the environment, and the one place their databases
// live. The Python and TypeScript examples follow the same rules.
package settings

import (
	"os"
	"path/filepath"
)

// Env is the environment variable name, or def when it is not set.
func Env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// DataFile is name in courier-examples/ under the user's cache directory
// (under the temporary directory if there is none): started from a
// checkout, a service must not write into it.
func DataFile(name string) string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "courier-examples", name)
}
