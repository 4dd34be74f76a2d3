package workflows_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/converter"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/internal/teststack"
	"github.com/courier-mq/courier/tracing"
)

// A message's trace id is in its workflow's details in the Temporal Web UI
// and in its state, which the console shows.
func TestTheTraceIDIsWhereOperatorsLook(t *testing.T) {
	st := teststack.New(t, teststack.Config{})
	in := st.Input("traced-1")
	in.Trace = tracing.Carrier{"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	st.Start(t, in)

	d, err := st.Client.DescribeWorkflowExecution(t.Context(), contract.WorkflowID(in.Message.ID), "")
	require.NoError(t, err)
	var details string
	require.NoError(t, converter.GetDefaultDataConverter().FromPayload(d.GetExecutionConfig().GetUserMetadata().GetDetails(), &details))
	require.Contains(t, details, "trace: `4bf92f3577b34da6a3ce929d0e0e4736`")

	require.Eventually(t, func() bool {
		s, err := st.Messages.State(t.Context(), in.Message.ID)
		return err == nil && s.TraceID == "4bf92f3577b34da6a3ce929d0e0e4736"
	}, 30*time.Second, 50*time.Millisecond)
}
