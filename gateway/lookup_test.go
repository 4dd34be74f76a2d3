package gateway

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
)

func TestTemporalFailureStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		want int
	}{
		// Frontends learn of newly registered search attributes late
		// (messages of Temporal v1.32.1).
		{serviceerror.NewInvalidArgument("Namespace default has no mapping defined for search attribute CourierStatus"), http.StatusServiceUnavailable},
		{fmt.Errorf("start: %w", serviceerror.NewInvalidArgument("search attribute CourierTopic is not defined")), http.StatusServiceUnavailable},
		// Anyone else's search attribute, or another invalid argument, is
		// a fault of the request Courier built.
		{serviceerror.NewInvalidArgument("search attribute CustomerId is not defined"), http.StatusInternalServerError},
		{serviceerror.NewInvalidArgument("WorkflowId is not set on request"), http.StatusInternalServerError},
		{serviceerror.NewUnavailable("frontend restarting"), http.StatusServiceUnavailable},
		{context.DeadlineExceeded, http.StatusServiceUnavailable},
	} {
		require.Equal(t, tc.want, temporalFailure("start message m-1", tc.err).status, "%v", tc.err)
	}
}
