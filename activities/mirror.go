package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/courier-mq/courier/models"
)

// Mirror is the part of the messages table the mirror activity writes;
// *store.Store satisfies it.
type Mirror interface {
	// Insert writes a new row; created is false when the row already exists.
	Insert(ctx context.Context, m *models.Message) (created bool, err error)
	// Apply writes a transition unless the row already holds that revision or
	// a later one (applied false). It returns models.ErrNotFound when the row
	// does not exist.
	Apply(ctx context.Context, t models.Transition) (applied bool, err error)
}

// WriteMirror applies one transition to the messages table. When in.Create is
// set it first inserts the row as the transition leaves it, a single
// statement, and applies the transition only when the row existed already (a
// retried write). A transition the row already holds or has
// passed is a success: the write is a retry or arrived late. A transition for
// a row that does not exist yet is retried, because the write that creates
// the row is still in flight; so is every other database error.
func (a *Activities) WriteMirror(ctx context.Context, in MirrorInput) error {
	if in.Create != nil {
		row := *in.Create
		in.Transition.Onto(&row)
		created, err := a.Mirror.Insert(ctx, &row)
		if err != nil {
			return fmt.Errorf("mirror %s: %w", in.Create.ID, err)
		}
		if created {
			return nil
		}
	}
	applied, err := a.Mirror.Apply(ctx, in.Transition)
	if errors.Is(err, models.ErrNotFound) {
		return fmt.Errorf("mirror %s: row not created yet: %w", in.Transition.ID, err)
	}
	if err != nil {
		return fmt.Errorf("mirror %s: %w", in.Transition.ID, err)
	}
	if !applied {
		activity.GetLogger(ctx).Debug("Mirror write is stale: the row already holds this revision or a later one.",
			"MessageID", in.Transition.ID, "Revision", in.Transition.Revision)
	}
	return nil
}
