package bench

import (
	"os"
	"runtime"
	"syscall"
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

	// The loop runs until its own thread has used 300 ms of CPU, not for
	// 300 ms of wall time: on a machine busy with other work a wall-time
	// loop got 160 ms of CPU and failed the bound below.
	spin := func() error {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		start, err := threadCPU()
		if err != nil {
			return err
		}
		for {
			now, err := threadCPU()
			if err != nil {
				return err
			}
			if now-start >= 300*time.Millisecond {
				return nil
			}
		}
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

// threadCPU is the CPU time the calling OS thread has used.
func threadCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
