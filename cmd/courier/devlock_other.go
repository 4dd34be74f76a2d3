//go:build !unix

package main

// lockDataDir locks nothing where flock(2) is missing: run one `courier dev`
// per data directory there.
func lockDataDir(string) (release func() error, err error) {
	return func() error { return nil }, nil
}
