package operations

import (
	"context"
	"errors"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// Outcome is what one message's workflow answered an operator's action, as
// the audit log keeps it.
type Outcome struct {
	models.AuditOutcome
	// After is the message's status after the decision (contract.Answer's
	// Status); the audit log keeps the one it was decided on.
	After wire.Status
	// Err is why the workflow could not be asked, when the Disposition is
	// models.Failed: the transport shows its own words for it.
	Err error
}

// Answer is the workflow's answer, or Err.
func (o Outcome) Answer() (contract.Answer, error) {
	return contract.Answer{Status: o.After, Previous: o.Status, Disposition: o.Disposition, Reason: o.Detail}, o.Err
}

// Report is what an operator's action did, message by message.
type Report struct {
	Outcomes []Outcome
	// AuditID is the audit log entry recording the action; 0 when the entry
	// could not be written (the action was taken all the same, and the
	// failure is logged).
	AuditID int64
}

// Act asks message id's workflow to act on req for an operator, whom req.By
// names, and records the action and its outcome in the audit log. A
// workflow that could not be asked is recorded too, as models.Failed.
func (s *Service) Act(ctx context.Context, id string, req contract.Request) Report {
	e := models.AuditEntry{By: req.By, Action: req.Action, Reason: req.Reason}
	return s.record(ctx, e, []Outcome{s.ask(ctx, id, req)})
}

// ask asks message id's workflow for an operator and turns its answer, or
// why there is none, into an outcome.
func (s *Service) ask(ctx context.Context, id string, req contract.Request) Outcome {
	req.Operator = true // the workflow's last_error then says what req.By did
	a, err := s.messages.Ask(ctx, id, req)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return Outcome{AuditOutcome: models.AuditOutcome{ID: id, Disposition: models.Failed, Detail: "no message has this id"}, Err: err}
	case err != nil:
		s.logger.Warn("operator action not asked", "id", id, "action", req.Action, "error", err)
		return Outcome{AuditOutcome: models.AuditOutcome{ID: id, Disposition: models.Failed, Detail: "its workflow could not be asked; try again"}, Err: err}
	}
	return Outcome{AuditOutcome: models.AuditOutcome{ID: id, Disposition: a.Disposition, Status: a.Previous, Detail: a.Reason}, After: a.Status}
}

// record writes e with outcomes to the audit log. The action has been taken
// whether or not the entry is written, so a failure to write it is logged,
// not returned: the caller still shows what was done.
func (s *Service) record(ctx context.Context, e models.AuditEntry, outcomes []Outcome) Report {
	e.Outcomes = make([]models.AuditOutcome, len(outcomes))
	for i, o := range outcomes {
		e.Outcomes[i] = o.AuditOutcome
	}
	if err := s.store.Audit(context.WithoutCancel(ctx), &e); err != nil {
		s.logger.Error("audit entry not written", "by", e.By, "action", e.Action, "error", err)
	}
	s.logger.Info("operator action", "by", e.By, "action", e.Action, "topic", e.Topic, "messages", len(outcomes), "audit", e.ID)
	return Report{Outcomes: outcomes, AuditID: e.ID}
}
