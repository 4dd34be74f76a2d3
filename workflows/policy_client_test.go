package workflows

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/contract"
)

// TestClientDefaultPolicy ties the client module's copy of the default
// policy, from which the producer and the consumer derive how long to keep
// their barrier and dedupe rows, to the one the workflow runs.
func TestClientDefaultPolicy(t *testing.T) {
	t.Parallel()
	c, w := client.DefaultPolicy(), contract.DefaultPolicy()
	require.Equal(t, contract.Policy{
		CheckDelay: c.CheckDelay, CheckBackoff: c.CheckBackoff, CheckMaxDelay: c.CheckMaxDelay,
		CheckMaxAttempts: c.CheckMaxAttempts, CheckTimeout: c.CheckTimeout,
		ResendIntervals: c.ResendIntervals, PublishMaxInterval: c.PublishMaxInterval,
	}, w)
	// The span the producer's retention floor is built on follows the
	// workflow's own delays.
	r := &messageRun{policy: w}
	var span = w.CheckTimeout * 0
	for n := 1; n <= w.CheckMaxAttempts; n++ {
		span += r.checkDelay(n) + w.CheckTimeout
	}
	require.Equal(t, span, c.CheckSpan())
}
