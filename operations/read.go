package operations

import (
	"context"
	"errors"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// Message is one message as it is read: its mirror row, or while the mirror
// has not caught up with a just-started workflow, what the workflow says.
type Message struct {
	// Row is the mirror's row, with the payload; nil when the mirror has
	// none yet.
	Row *models.Message
	// State is the workflow's, when Row is nil: its full state when Live,
	// else only the id, topic, status and start time its description holds
	// (no worker answered).
	State contract.State
	Live  bool
}

// Status is the message's status as read.
func (m Message) Status() wire.Status {
	if m.Row != nil {
		return m.Row.Status
	}
	return m.State.Status
}

// Read returns message id: the mirror's row first, since only the mirror
// has the payload and it answers without a worker, else the workflow's
// current state. Errors: models.ErrNotFound when neither knows the message,
// *contract.UnavailableError when the mirror or Temporal does not answer.
func (s *Service) Read(ctx context.Context, id string) (Message, error) {
	row, err := s.store.Get(ctx, id)
	if err == nil {
		return Message{Row: row}, nil
	}
	if !errors.Is(err, models.ErrNotFound) {
		return Message{}, &contract.UnavailableError{Dependency: "the message mirror", Err: err}
	}
	st, live, err := s.messages.Current(ctx, id)
	if err != nil {
		return Message{}, err
	}
	return Message{State: st, Live: live}, nil
}
