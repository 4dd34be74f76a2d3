package store

import (
	"context"
	"fmt"
	"time"

	"github.com/courier-mq/courier/client/wire"
)

// CountByTopic counts the messages of each topic in each status.
func (s *Store) CountByTopic(ctx context.Context) (map[string]map[wire.Status]int64, error) {
	var rows []struct {
		Topic  string
		Status wire.Status
		N      int64
	}
	err := s.messages(ctx).Select("topic, status, COUNT(*) AS n").Group("topic, status").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count messages by topic: %w", err)
	}
	out := map[string]map[wire.Status]int64{}
	for _, r := range rows {
		if out[r.Topic] == nil {
			out[r.Topic] = map[wire.Status]int64{}
		}
		out[r.Topic][r.Status] = r.N
	}
	return out, nil
}

// Activity is how many messages were created, first published and completed
// in a window.
type Activity struct {
	Created, Published, Completed int64
}

// ActivitySince counts the messages created, published and completed at or
// after since.
func (s *Store) ActivitySince(ctx context.Context, since time.Time) (Activity, error) {
	var a Activity
	t := ceilMillis(since)
	for col, n := range map[string]*int64{"created_at": &a.Created, "published_at": &a.Published, "completed_at": &a.Completed} {
		if err := s.messages(ctx).Where(col+" >= ?", t).Count(n).Error; err != nil {
			return Activity{}, fmt.Errorf("count messages by %s: %w", col, err)
		}
	}
	return a, nil
}

// CountStatusBefore counts the messages in status created before t: e.g.
// the WAITING_CONFIRM messages older than their first check-back.
func (s *Store) CountStatusBefore(ctx context.Context, status wire.Status, t time.Time) (int64, error) {
	var n int64
	if err := s.messages(ctx).Where("status = ? AND created_at < ?", status, ceilMillis(t)).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count %s messages: %w", status, err)
	}
	return n, nil
}
