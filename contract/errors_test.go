package contract

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
)

func TestTemporalFailureIsClassified(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err       error
		retryable bool
	}{
		// Frontends learn of newly registered search attributes late
		// (messages of Temporal v1.32.1).
		{serviceerror.NewInvalidArgument("Namespace default has no mapping defined for search attribute CourierStatus"), true},
		{fmt.Errorf("start: %w", serviceerror.NewInvalidArgument("search attribute CourierTopic is not defined")), true},
		// Anyone else's search attribute, or another invalid argument, is
		// a fault of the request Courier built.
		{serviceerror.NewInvalidArgument("search attribute CustomerId is not defined"), false},
		{serviceerror.NewInvalidArgument("WorkflowId is not set on request"), false},
		{serviceerror.NewUnavailable("frontend restarting"), true},
		{context.DeadlineExceeded, true},
	} {
		err := temporalFailure("start message m-1", tc.err)
		var unav *UnavailableError
		require.Equal(t, tc.retryable, errors.As(err, &unav), "%v", tc.err)
		require.ErrorIs(t, err, tc.err, "the cause stays in the chain")
	}
}

// TestCallerCancelIsNotTemporalDown: a call whose caller gave up (a client
// that hung up, a server shutting down) says so; reporting it as Temporal
// being unavailable sends an operator after a healthy cluster.
func TestCallerCancelIsNotTemporalDown(t *testing.T) {
	t.Parallel()
	err := temporalFailure("signal message m-1", fmt.Errorf("rpc: %w", context.Canceled))
	var unav *UnavailableError
	require.False(t, errors.As(err, &unav), "%v", err)
	require.ErrorIs(t, err, context.Canceled)
}
