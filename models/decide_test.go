package models

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
)

func TestDecideMatchesLifecycleTable(t *testing.T) {
	t.Parallel()
	// Terminal states, which the workflows package cannot reach with a
	// live workflow (TestEverySignalInEveryState); a closed workflow is
	// decided from its final status with Decide.
	for _, tc := range []struct {
		status wire.Status
		action Action
		want   wire.Outcome
	}{
		{wire.StatusCompleted, Confirm, wire.Repeated},
		{wire.StatusCompleted, Cancel, wire.Rejected},
		{wire.StatusCompleted, Complete, wire.Repeated},
		{wire.StatusCompleted, Redrive, wire.Rejected},
		{wire.StatusCancelled, Confirm, wire.Rejected},
		{wire.StatusCancelled, Cancel, wire.Repeated},
		{wire.StatusCancelled, Complete, wire.Rejected},
		{wire.StatusCancelled, Redrive, wire.Rejected},
		{wire.StatusDelivered, "bogus", wire.Rejected},
	} {
		got, reason := Decide(tc.status, tc.action, "", nil, nil)
		require.Equal(t, tc.want, got, "%s in %s", tc.action, tc.status)
		require.NotEmpty(t, reason)
	}
	// Named consumers.
	consumers := []string{"accounting", "points"}
	d, _ := Decide(wire.StatusDelivered, Complete, "", consumers, nil)
	require.Equal(t, wire.Rejected, d, "a fan-out completion must name its consumer")
	d, _ = Decide(wire.StatusDelivered, Complete, "points", consumers, []string{"points"})
	require.Equal(t, wire.Repeated, d)
	d, _ = Decide(wire.StatusCompleted, Complete, "points", consumers, []string{"accounting", "points"})
	require.Equal(t, wire.Repeated, d)
	d, _ = Decide(wire.StatusCompleted, Complete, "billing", consumers, []string{"accounting", "points"})
	require.Equal(t, wire.Rejected, d)
}

// A complete of a message not sent yet is held (wire.Accepted), validated as any
// complete; a cancelled message was never sent, so one is refused.
func TestDecideHoldsEarlyCompletions(t *testing.T) {
	t.Parallel()
	consumers := []string{"accounting", "points"}
	for _, status := range []wire.Status{wire.StatusWaitingConfirm, wire.StatusCheckExhausted, wire.StatusScheduled} {
		d, reason := Decide(status, Complete, "", nil, nil)
		require.Equal(t, wire.Accepted, d, "%s", status)
		require.Contains(t, reason, "held until it is published")
		d, _ = Decide(status, Complete, "", nil, []string{""})
		require.Equal(t, wire.Repeated, d, "%s: a second anonymous early complete", status)
		d, _ = Decide(status, Complete, "points", consumers, []string{"accounting"})
		require.Equal(t, wire.Accepted, d, "%s: each named consumer's completion is held", status)
		d, _ = Decide(status, Complete, "accounting", consumers, []string{"accounting"})
		require.Equal(t, wire.Repeated, d, "%s", status)
		d, _ = Decide(status, Complete, "billing", consumers, nil)
		require.Equal(t, wire.Rejected, d, "%s: a consumer the message does not name", status)
		d, _ = Decide(status, Complete, "", consumers, nil)
		require.Equal(t, wire.Rejected, d, "%s: a fan-out completion must name its consumer", status)
	}
	d, reason := Decide(wire.StatusCancelled, Complete, "", nil, nil)
	require.Equal(t, wire.Rejected, d)
	require.Equal(t, "message is CANCELLED, it was never sent", reason)
}
