package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBenchFlagsAreValidatedBeforeAnythingRuns(t *testing.T) {
	t.Parallel()
	stdout, stderr := runRefused(t, "bench",
		"-n", "-5",
		"--direct-ratio", "1.5",
		"--gateway", "127.0.0.1:8080",
		"--kafka", "",
	)
	for _, want := range []string{
		"messages must be positive",
		"direct ratio must be between 0 and 1",
		"gateway must be an http(s) URL",
		"kafka is required",
	} {
		require.Contains(t, stderr, want)
	}
	require.Empty(t, stdout)
}
