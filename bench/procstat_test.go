package bench

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The CPU of a phase is the sum over the watched processes: watching this
// process twice counts its CPU twice.
func TestPhaseCPUSumsTheWatchedProcesses(t *testing.T) {
	t.Parallel()
	self := os.Getpid()
	one, err := watchProc(self, nil, time.Hour)
	require.NoError(t, err)
	defer one.finish() //nolint:errcheck // only stops the sampler
	two, err := watchProc(self, []int{self}, time.Hour)
	require.NoError(t, err)
	defer two.finish() //nolint:errcheck

	a, err := one.cpu()
	require.NoError(t, err)
	b, err := two.cpu()
	require.NoError(t, err)
	// Both read the same counter, ticks apart.
	require.InDelta(t, 2*a.Seconds(), b.Seconds(), 0.05)

	spin := func() error {
		for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		}
		return nil
	}
	used, err := one.phaseCPU(spin)
	require.NoError(t, err)
	require.Greater(t, used, 200*time.Millisecond, "a 300 ms busy loop")
	require.Less(t, used, 2*time.Second)

	none, err := watchProc(0, nil, time.Hour)
	require.NoError(t, err)
	zero, err := none.phaseCPU(spin)
	require.NoError(t, err)
	require.Zero(t, zero)
}
