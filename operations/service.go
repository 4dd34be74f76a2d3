package operations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"unicode/utf8"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/store"
)

// Service carries out the operations on messages. It is safe for
// concurrent use.
type Service struct {
	messages *contract.Client
	store    *store.Store
	logger   *slog.Logger
}

// Deps are what the service acts through.
type Deps struct {
	// Messages asks message workflows to act and reads their live state.
	Messages *contract.Client
	// Store is the mirror messages are read and listed from, and the audit
	// log operator actions are written to.
	Store *store.Store
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// New returns the service over deps.
func New(deps Deps) (*Service, error) {
	if deps.Messages == nil || deps.Store == nil {
		return nil, errors.New("operations need the contract client and the message store")
	}
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	return &Service{messages: deps.Messages, store: deps.Store, logger: deps.Logger}, nil
}

// CheckReason refuses a reason longer than wire.MaxReasonLen, the width of
// the audit log's reason column.
func CheckReason(reason string) error {
	if utf8.RuneCountInString(reason) > wire.MaxReasonLen {
		return fmt.Errorf("reason is longer than %d characters", wire.MaxReasonLen)
	}
	return nil
}

// Ask asks message id's workflow to act on req for its producer or a
// consumer; an operator's action goes through Act, which records it. Errors
// are contract.Client.Ask's: models.ErrNotFound, *contract.UnavailableError
// or a failure a retry will not fix; a rejected action is an Answer.
func (s *Service) Ask(ctx context.Context, id string, req contract.Request) (contract.Answer, error) {
	return s.messages.Ask(ctx, id, req)
}
