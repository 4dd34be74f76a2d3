package operations

import (
	"context"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
)

// Limits of a re-drive of a topic.
const (
	// DefaultRedriveLimit is how many DEAD messages the API re-drives when
	// the request names no limit.
	DefaultRedriveLimit = 100
	// MaxRedriveLimit is the most DEAD messages one re-drive examines.
	MaxRedriveLimit = 1000
	// redrivePageSize is how many DEAD messages are listed at a time.
	redrivePageSize = 100
)

// RedriveTopic re-drives up to limit (1 to MaxRedriveLimit) DEAD messages of
// topic for the operator by, in the mirror's listing order, each through
// the same decision as Act, and records them in the audit log as one
// action. A message that is no longer DEAD when its turn comes answers
// Rejected.
//
// The error is the mirror failing to list the messages
// (*contract.UnavailableError); the messages re-driven before it are
// recorded and reported all the same.
func (s *Service) RedriveTopic(ctx context.Context, topic string, limit int, by, reason string) (Report, error) {
	req := contract.Request{Action: models.Redrive, By: by, Reason: reason}
	var outcomes []Outcome
	var listErr error
	f := store.Filter{Status: wire.StatusDead, Topic: topic}
	for len(outcomes) < limit {
		f.Limit = min(redrivePageSize, limit-len(outcomes))
		page, err := s.store.List(ctx, f)
		if err != nil {
			listErr = &contract.UnavailableError{Dependency: "the message mirror", Err: err}
			break
		}
		for _, m := range page.Messages {
			outcomes = append(outcomes, s.ask(ctx, m.ID, req))
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	if listErr != nil && len(outcomes) == 0 {
		return Report{}, listErr
	}
	return s.record(ctx, models.AuditEntry{By: by, Action: models.Redrive, Topic: topic, Reason: reason}, outcomes), listErr
}
