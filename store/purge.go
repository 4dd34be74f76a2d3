package store

import (
	"context"
	"fmt"
	"time"

	"github.com/courier-mq/courier/client/wire"
)

// Settled are the statuses retention deletes: a message in one of them has
// nothing left to do. DEAD and CHECK_EXHAUSTED wait for an operator and are
// never deleted by retention, nor is an open message.
var Settled = []wire.Status{wire.StatusCompleted, wire.StatusCancelled}

// PurgeSettled deletes up to batch messages that settled before t (their
// last transition, updated_at, is older) and returns how many it deleted.
// Each status is one range of the (status, updated_at) index, so a batch
// touches only the rows it deletes and holds its locks briefly; call it
// again until it deletes fewer than batch.
func (s *Store) PurgeSettled(ctx context.Context, t time.Time, batch int) (int64, error) {
	var deleted int64
	for _, st := range Settled {
		if deleted >= int64(batch) {
			break
		}
		var ids []string
		err := s.messages(ctx).Where("status = ? AND updated_at < ?", st, ceilMillis(t)).
			Limit(batch-int(deleted)).Pluck("id", &ids).Error
		if err != nil {
			return deleted, fmt.Errorf("find settled messages: %w", err)
		}
		if len(ids) == 0 {
			continue
		}
		// The condition is repeated so that the delete alone decides what
		// goes, whatever happened between the two statements.
		res := s.messages(ctx).Where("id IN ? AND status = ? AND updated_at < ?", ids, st, ceilMillis(t)).Delete(&messageRow{})
		if res.Error != nil {
			return deleted, fmt.Errorf("delete settled messages: %w", res.Error)
		}
		deleted += res.RowsAffected
	}
	return deleted, nil
}
