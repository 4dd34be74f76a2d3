package bench

import (
	"context"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// meanHistoryLength is the mean number of history events of the workflows
// with the given IDs; 0 for none.
func meanHistoryLength(ctx context.Context, c client.Client, workflowIDs []string) (float64, error) {
	if len(workflowIDs) == 0 {
		return 0, nil
	}
	total := 0
	for _, id := range workflowIDs {
		it := c.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			if _, err := it.Next(); err != nil {
				return 0, fmt.Errorf("history of %s: %w", id, err)
			}
			total++
		}
	}
	return float64(total) / float64(len(workflowIDs)), nil
}

// sampleIDs picks up to k of the n items, evenly spread, and names them.
func sampleIDs(n, k int, name func(int) string) []string {
	k = min(k, n)
	out := make([]string, 0, k)
	for j := range k {
		out = append(out, name(j*n/k))
	}
	return out
}
