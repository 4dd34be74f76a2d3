package models

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecideMatchesLifecycleTable(t *testing.T) {
	t.Parallel()
	// Terminal states, which the workflows package cannot reach with a
	// live workflow (TestEverySignalInEveryState); a closed workflow is
	// decided from its final status with Decide.
	for _, tc := range []struct {
		status Status
		action Action
		want   Disposition
	}{
		{StatusCompleted, Confirm, Repeated},
		{StatusCompleted, Cancel, Rejected},
		{StatusCompleted, Complete, Repeated},
		{StatusCompleted, Redrive, Rejected},
		{StatusCancelled, Confirm, Rejected},
		{StatusCancelled, Cancel, Repeated},
		{StatusCancelled, Complete, Rejected},
		{StatusCancelled, Redrive, Rejected},
		{StatusDelivered, "bogus", Rejected},
	} {
		got, reason := Decide(tc.status, tc.action, "", nil, nil)
		require.Equal(t, tc.want, got, "%s in %s", tc.action, tc.status)
		require.NotEmpty(t, reason)
	}
	// Named consumers.
	consumers := []string{"accounting", "points"}
	d, _ := Decide(StatusDelivered, Complete, "", consumers, nil)
	require.Equal(t, Rejected, d, "a fan-out completion must name its consumer")
	d, _ = Decide(StatusDelivered, Complete, "points", consumers, []string{"points"})
	require.Equal(t, Repeated, d)
	d, _ = Decide(StatusCompleted, Complete, "points", consumers, []string{"accounting", "points"})
	require.Equal(t, Repeated, d)
	d, _ = Decide(StatusCompleted, Complete, "billing", consumers, []string{"accounting", "points"})
	require.Equal(t, Rejected, d)
}
