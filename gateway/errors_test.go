package gateway

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCancelledRequestIsNotAServerFault: a request whose caller hung up ends
// in context.Canceled however deep the call was; that is neither a 500 to
// alert on nor a 503 that blames Temporal.
func TestCancelledRequestIsNotAServerFault(t *testing.T) {
	t.Parallel()
	for _, err := range []error{
		fmt.Errorf("signal: %w", context.Canceled),
		internalError("message m-1", fmt.Errorf("update: %w", context.Canceled)),
	} {
		ae := classify(err)
		require.Equal(t, statusClientClosedRequest, ae.status, "%v", err)
		require.Equal(t, codeCanceled, ae.code)
	}
	require.Equal(t, http.StatusInternalServerError, classify(fmt.Errorf("boom")).status)
}
