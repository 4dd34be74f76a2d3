package chaos

import (
	"context"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// trace describes, for a stuck message's report, which workflow task wrote
// its mirror row and what its history holds: the row's revision leads with
// the history length at the start of the task that wrote it (see
// models.RevisionTaskShift), so a length that is no task's start in the
// history, or a write older than that task, names a task that was lost.
func trace(ctx context.Context, s *Stack, id string) string {
	row, err := s.Store.Get(ctx, id)
	if err != nil {
		return fmt.Sprintf("mirror row: %v", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "mirror row %s at revision %d (task at history length %d, transition %d, updated %s); history:",
		row.Status, row.Revision, row.Revision>>models.RevisionTaskShift, row.Revision&(1<<models.RevisionTaskShift-1), row.UpdatedAt.Format("15:04:05.000"))
	it := s.Client.GetWorkflowHistory(ctx, contract.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			fmt.Fprintf(&b, " (%v)", err)
			break
		}
		name := strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_")
		fmt.Fprintf(&b, " %d:%s@%s", e.GetEventId(), name, e.GetEventTime().AsTime().Format("05.000"))
		if sum := e.GetUserMetadata().GetSummary(); sum != nil {
			fmt.Fprintf(&b, "(%s)", sum.GetData())
		}
	}
	return b.String()
}
