package chaos

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/workflow"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/replay"
	"github.com/courier-mq/courier/workflows"
)

// TestProductionShape runs 1,000 mixed messages through the production
// shape (NewProductionStack) while a Temporal node, a worker, a gateway and
// a Kafka broker fail one after another, and checks the fault suite's
// invariants: every committed message in Kafka and completed, nothing
// cancelled sent, the mirror equal to the workflows, nothing stuck.
func TestProductionShape(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos scenarios do not run with -short")
	}
	t.Parallel()
	tbin, err := BuildTemporalServer(context.Background(), t.TempDir())
	require.NoError(t, err)
	p := NewProductionStack(t, chaos.bin, tbin, ProductionConfig{Shards: 8, Workers: 2})
	msgs := Mix("9-production", 1000, Kinds, usual, []Misbehaviour{Truthful})
	start := time.Now()
	row := Run(t, p.Stack, Plan{Name: "9-production-shape", Messages: msgs, Faults: p.Faults})
	chaos.add(row)
	requests, serverErrors, byCode := p.Answers()
	t.Logf("production shape: %d messages in %s; faults: %s; %d deliveries (%d duplicates), %d processed once; %d records, %d lost; %d of %d requests to the gateways answered 5xx %v",
		row.Messages, time.Since(start).Round(time.Second), row.Faults, row.Deliveries, row.Duplicates, row.Processed, row.Records, row.Lost, serverErrors, requests, byCode)
	// Only 503, which tells the client to retry: never an internal error.
	for code := range byCode {
		require.Equal(t, 503, code, "the gateways answered %d", code)
	}

	// courier replay against the cluster: this code replays every history
	// it holds; a workflow changed without a new version replays none.
	rep, err := replay.Run(context.Background(), p.Client, replay.Config{Concurrency: 8})
	require.NoError(t, err)
	require.Equal(t, 1000, rep.Open+rep.Closed, "versions: %v", rep.ByVersion)
	require.Empty(t, rep.Failures)
	changed := func(ctx workflow.Context, in contract.Input) (contract.Result, error) {
		if err := workflow.Sleep(ctx, time.Hour); err != nil {
			return contract.Result{}, err
		}
		return workflows.MessageWorkflow(ctx, in)
	}
	rep, err = replay.Run(context.Background(), p.Client, replay.Config{Concurrency: 8, Limit: 50, Workflow: changed})
	require.NoError(t, err)
	require.Len(t, rep.Failures, 50, "a workflow changed without a new version must not replay")
	// A node down is retried inside Courier or answered 503 for the client
	// to retry, never a storm of errors.
	require.Less(t, float64(serverErrors), 0.02*float64(requests), "more than 2%% of the requests answered 5xx")
}
