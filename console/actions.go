package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
)

// maxRedrive is the most DEAD messages one re-drive of a topic sends.
const maxRedrive = 1000

// confirmData asks the operator to confirm an action before it is taken.
type confirmData struct {
	Action models.Action
	// ID is the message, or Topic and Count the DEAD messages of a topic.
	ID     string
	Status models.Status
	Topic  string
	Count  int64
	Limit  int
	Reason string
}

// resultData shows what an action did, message by message.
type resultData struct {
	Action   models.Action
	Topic    string
	Reason   string
	Outcomes []models.AuditOutcome
	// AuditID is the entry the action was recorded as.
	AuditID int64
}

// actions are the single-message actions the console takes, by path.
var actions = map[string]models.Action{"confirm": models.Confirm, "cancel": models.Cancel, "redrive": models.Redrive}

// act handles an action on one message: the first post shows what will be
// done and asks to confirm it, the second (confirmed=yes) asks the message's
// workflow, records the answer in the audit log and shows it.
func (c *Console) act(w http.ResponseWriter, r *http.Request, who access.Identity) {
	id := r.PathValue("id")
	action, ok := actions[r.PathValue("action")]
	if !ok || models.CheckID(id) != nil {
		c.fail(w, r, http.StatusNotFound, "There is no such action.")
		return
	}
	reason, problem := formReason(r)
	if problem != "" {
		c.fail(w, r, http.StatusBadRequest, problem)
		return
	}
	ctx := r.Context()
	if r.PostFormValue("confirmed") != "yes" {
		d := confirmData{Action: action, ID: id, Reason: reason}
		if st, _, err := c.messages.Current(ctx, id); err == nil {
			d.Status = st.Status
		} else if row, err := c.store.Get(ctx, id); err == nil {
			d.Status = row.Status
		} else {
			c.fail(w, r, http.StatusNotFound, "No message has this id.")
			return
		}
		c.render(w, r, http.StatusOK, "confirm.html", "Confirm "+string(action), d)
		return
	}
	out := c.ask(ctx, id, contract.Request{Action: action, By: who.Name, Reason: reason})
	c.finish(w, r, who, resultData{Action: action, Reason: reason, Outcomes: []models.AuditOutcome{out}})
}

// redriveTopic re-drives the DEAD messages of a topic, up to maxRedrive,
// after showing how many there are.
func (c *Console) redriveTopic(w http.ResponseWriter, r *http.Request, who access.Identity) {
	topic := r.PostFormValue("topic")
	if err := models.CheckTopic(topic); err != nil {
		c.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	reason, problem := formReason(r)
	if problem != "" {
		c.fail(w, r, http.StatusBadRequest, problem)
		return
	}
	ctx := r.Context()
	if r.PostFormValue("confirmed") != "yes" {
		counts, err := c.store.CountByTopic(ctx)
		if err != nil {
			c.unavailable(w, r, err)
			return
		}
		c.render(w, r, http.StatusOK, "confirm.html", "Confirm re-drive", confirmData{
			Action: models.Redrive, Topic: topic, Count: counts[topic][models.StatusDead], Limit: maxRedrive, Reason: reason,
		})
		return
	}
	d := resultData{Action: models.Redrive, Topic: topic, Reason: reason}
	f := store.Filter{Status: models.StatusDead, Topic: topic, Limit: 100}
	for len(d.Outcomes) < maxRedrive {
		page, err := c.store.List(ctx, f)
		if err != nil {
			if len(d.Outcomes) == 0 {
				c.unavailable(w, r, err)
				return
			}
			break // record what was done
		}
		for _, m := range page.Messages {
			if len(d.Outcomes) == maxRedrive {
				break
			}
			d.Outcomes = append(d.Outcomes, c.ask(ctx, m.ID, contract.Request{Action: models.Redrive, By: who.Name, Reason: reason}))
		}
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	c.finish(w, r, who, d)
}

// ask asks message id's workflow and turns the answer into an audit outcome.
func (c *Console) ask(ctx context.Context, id string, req contract.Request) models.AuditOutcome {
	a, err := c.messages.Ask(ctx, id, req)
	switch {
	case errors.Is(err, models.ErrNotFound):
		return models.AuditOutcome{ID: id, Disposition: "failed", Detail: "no message has this id"}
	case err != nil:
		c.logger.Warn("console: action failed", "id", id, "action", req.Action, "error", err)
		return models.AuditOutcome{ID: id, Disposition: "failed", Detail: "its workflow could not be asked; try again"}
	}
	return models.AuditOutcome{ID: id, Disposition: a.Disposition, Status: a.Status, Detail: a.Reason}
}

// finish records d in the audit log and shows it. An action whose record
// could not be written is still shown, with a warning: it was taken.
func (c *Console) finish(w http.ResponseWriter, r *http.Request, who access.Identity, d resultData) {
	e := models.AuditEntry{By: who.Name, Action: d.Action, Topic: d.Topic, Reason: d.Reason, Outcomes: d.Outcomes}
	if e.Outcomes == nil {
		e.Outcomes = []models.AuditOutcome{}
	}
	if err := c.store.Audit(context.WithoutCancel(r.Context()), &e); err != nil {
		c.logger.Error("console: audit entry not written", "by", who.Name, "action", d.Action, "error", err)
	}
	d.AuditID = e.ID
	c.logger.Info("console action", "by", who.Name, "action", d.Action, "topic", d.Topic, "messages", len(d.Outcomes), "audit", e.ID)
	c.render(w, r, http.StatusOK, "result.html", fmt.Sprintf("%s: result", d.Action), d)
}

// formReason is the form's reason, required.
func formReason(r *http.Request) (string, string) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case reason == "":
		return "", "Give a reason: it is kept with the action in the audit log."
	case utf8.RuneCountInString(reason) > models.MaxReasonLen:
		return "", fmt.Sprintf("The reason is longer than %d characters.", models.MaxReasonLen)
	}
	return reason, ""
}
