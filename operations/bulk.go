package operations

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// MaxActMany is the most messages one ActMany acts on: enough for a page of
// the console's list, few enough that one audit entry stays readable and the
// request ends in seconds.
const MaxActMany = 100

// actManyParallel is how many workflows ActMany asks at a time.
const actManyParallel = 8

// CheckSelection returns ids without repeats, in their order, or why ActMany
// would refuse them: none, more than MaxActMany (ErrTooMany), or an id
// models.CheckID refuses. A transport checks a selection with it before it
// asks the operator to confirm.
func CheckSelection(ids []string) ([]string, error) {
	var unique []string
	for _, id := range ids {
		if !slices.Contains(unique, id) {
			unique = append(unique, id)
		}
	}
	switch {
	case len(unique) == 0:
		return nil, errors.New("select at least one message")
	case len(unique) > MaxActMany:
		return nil, fmt.Errorf("%d messages selected: %w", len(unique), ErrTooMany)
	}
	for _, id := range unique {
		if err := models.CheckID(id); err != nil {
			return nil, err
		}
	}
	return unique, nil
}

// ErrTooMany is returned, wrapped, by ActMany for a selection over
// MaxActMany; nothing was done.
var ErrTooMany = fmt.Errorf("at most %d messages can be acted on at once", MaxActMany)

// ActMany asks the workflow of each of ids to act on req for an operator, as
// Act does for one, and records the action as ONE audit entry holding every
// message's outcome. Each message is decided on its own: one in a status the
// action does not apply to answers Rejected, one whose workflow could not be
// asked is models.Failed, and neither stops the others. The outcomes are in
// the order of ids, a repeated id acted on once.
//
// The error is CheckSelection's: then nothing is done and nothing audited.
func (s *Service) ActMany(ctx context.Context, ids []string, req contract.Request) (Report, error) {
	unique, err := CheckSelection(ids)
	if err != nil {
		return Report{}, err
	}
	outcomes := make([]Outcome, len(unique))
	var g errgroup.Group
	g.SetLimit(actManyParallel)
	for i, id := range unique {
		g.Go(func() error {
			outcomes[i] = s.ask(ctx, id, req)
			return nil
		})
	}
	_ = g.Wait() // ask reports every failure in its outcome
	return s.record(ctx, models.AuditEntry{By: req.By, Action: req.Action, Reason: req.Reason}, outcomes), nil
}
