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
	used, _, err := one.phaseCPU(spin)
	require.NoError(t, err)
	require.Greater(t, used, 200*time.Millisecond, "a 300 ms busy loop")
	require.Less(t, used, 2*time.Second)

	// Both read the same counter, which only grows: two's sum of two reads
	// lies between twice the read before and twice the read after. (Read
	// after the loop above, the counter is well above zero: one read
	// instead of two would fall below.) Other tests run in this process
	// meanwhile, so a bound on the difference would depend on the load.
	a, err := one.cpu()
	require.NoError(t, err)
	b, err := two.cpu()
	require.NoError(t, err)
	c, err := one.cpu()
	require.NoError(t, err)
	require.Positive(t, a)
	require.True(t, 2*a <= b && b <= 2*c, "watching this process twice: %s, once: %s then %s", b, a, c)

	// The bench watching itself has no CPU of its own beside the watched.
	_, bench, err := one.phaseCPU(spin)
	require.NoError(t, err)
	require.Zero(t, bench)
	// Watching another process, the bench's own CPU is counted apart.
	other, err := watchProc(1, nil, time.Hour)
	require.NoError(t, err)
	defer other.finish() //nolint:errcheck
	_, bench, err = other.phaseCPU(spin)
	require.NoError(t, err)
	require.Greater(t, bench, 200*time.Millisecond, "a 300 ms busy loop in the bench")

	none, err := watchProc(0, nil, time.Hour)
	require.NoError(t, err)
	zero, _, err := none.phaseCPU(spin)
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

func TestRatiosOfCPU(t *testing.T) {
	t.Parallel()
	r := &Report{
		Floor:     &BaselineResult{Workflows: 100, PerSec: 80, CPU: 2 * time.Second, BenchCPU: time.Second},
		Lifecycle: &LifecycleResult{Messages: 100, PerSec: 60, CPU: 3 * time.Second, BenchCPU: 2 * time.Second},
	}
	r.ratios()
	require.InDelta(t, 0.75, r.LifecycleFloorRatio, 1e-9)
	require.InDelta(t, 1.5, r.CPUFloorRatio, 1e-9, "30 ms against 20 ms")
	require.InDelta(t, 5.0/3, r.WholeCPUFloorRatio, 1e-9, "50 ms against 30 ms")

	// Without the bench's CPU (it watched itself) there is no whole ratio.
	r.Floor.BenchCPU, r.WholeCPUFloorRatio = 0, 0
	r.ratios()
	require.Zero(t, r.WholeCPUFloorRatio)
}
