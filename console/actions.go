package console

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/operations"
)

// confirmData asks the operator to confirm an action before it is taken.
type confirmData struct {
	Action models.Action
	// ID is the message, or Topic and Count the DEAD messages of a topic.
	ID     string
	Status wire.Status
	Topic  string
	Count  int64
	Limit  int
	Reason string
}

// resultData shows what an action did, message by message.
type resultData struct {
	Action models.Action
	Topic  string
	Reason string
	operations.Report
}

// actions are the single-message actions the console takes, by path.
var actions = map[string]models.Action{"confirm": models.Confirm, "cancel": models.Cancel, "redrive": models.Redrive}

// act handles an action on one message: the first post shows what will be
// done and asks to confirm it, the second (confirmed=yes) takes it and shows
// the workflow's answer, as the audit log records it.
func (c *Console) act(w http.ResponseWriter, r *http.Request, who access.Identity) {
	id := r.PathValue("id")
	action, ok := actions[r.PathValue("action")]
	if !ok || models.CheckID(id) != nil {
		c.fail(w, r, http.StatusNotFound, "There is no such action.")
		return
	}
	reason, ok := c.formReason(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	if r.PostFormValue("confirmed") != "yes" {
		m, err := c.ops.Read(ctx, id)
		switch {
		case errors.Is(err, models.ErrNotFound):
			c.fail(w, r, http.StatusNotFound, "No message has this id.")
			return
		case err != nil:
			c.unavailable(w, r, err)
			return
		}
		c.render(w, r, http.StatusOK, "confirm.html", "Confirm "+string(action), confirmData{Action: action, ID: id, Status: m.Status(), Reason: reason})
		return
	}
	report := c.ops.Act(ctx, id, contract.Request{Action: action, By: who.Name, Reason: reason})
	c.finish(w, r, resultData{Action: action, Reason: reason, Report: report})
}

// redriveTopic re-drives the DEAD messages of a topic, up to
// operations.MaxRedriveLimit, after showing how many there are.
func (c *Console) redriveTopic(w http.ResponseWriter, r *http.Request, who access.Identity) {
	topic := r.PostFormValue("topic")
	if err := models.CheckTopic(topic); err != nil {
		c.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	reason, ok := c.formReason(w, r)
	if !ok {
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
			Action: models.Redrive, Topic: topic, Count: counts[topic][wire.StatusDead], Limit: operations.MaxRedriveLimit, Reason: reason,
		})
		return
	}
	// A listing that fails part way is shown with what was done before it.
	report, err := c.ops.RedriveTopic(ctx, topic, operations.MaxRedriveLimit, who.Name, reason)
	if err != nil && len(report.Outcomes) == 0 {
		c.unavailable(w, r, err)
		return
	}
	c.finish(w, r, resultData{Action: models.Redrive, Topic: topic, Reason: reason, Report: report})
}

// finish shows what an action did.
func (c *Console) finish(w http.ResponseWriter, r *http.Request, d resultData) {
	c.render(w, r, http.StatusOK, "result.html", fmt.Sprintf("%s: result", d.Action), d)
}

// formReason is the form's reason, which an action requires; without a
// usable one it answers 400 saying why and reports false.
func (c *Console) formReason(w http.ResponseWriter, r *http.Request) (string, bool) {
	reason := strings.TrimSpace(r.PostFormValue("reason"))
	switch {
	case reason == "":
		c.fail(w, r, http.StatusBadRequest, "Give a reason: it is kept with the action in the audit log.")
		return "", false
	case operations.CheckReason(reason) != nil:
		c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("The reason is longer than %d characters.", wire.MaxReasonLen))
		return "", false
	}
	return reason, true
}

// bulkData asks the operator for one reason and to confirm an action on the
// messages selected in the list.
type bulkData struct {
	Action models.Action
	IDs    []string
}

// bulk handles an action on the messages selected in the list: the first
// post shows how many and which, and asks for one reason; the second
// (confirmed=yes) takes the action on each and shows every workflow's
// answer, recorded as one audit entry.
func (c *Console) bulk(w http.ResponseWriter, r *http.Request, who access.Identity) {
	action, ok := actions[r.PostFormValue("action")]
	if !ok {
		c.fail(w, r, http.StatusBadRequest, "There is no such action.")
		return
	}
	ids, err := operations.CheckSelection(r.PostForm["id"])
	if err != nil {
		c.fail(w, r, http.StatusBadRequest, "This selection cannot be acted on: "+err.Error()+".")
		return
	}
	if r.PostFormValue("confirmed") != "yes" {
		c.render(w, r, http.StatusOK, "bulk.html", fmt.Sprintf("Confirm %s of %d messages", action, len(ids)), bulkData{Action: action, IDs: ids})
		return
	}
	reason, ok := c.formReason(w, r)
	if !ok {
		return
	}
	report, err := c.ops.ActMany(r.Context(), ids, contract.Request{Action: action, By: who.Name, Reason: reason})
	if err != nil { // CheckSelection passed, so this is not expected
		c.fail(w, r, http.StatusBadRequest, err.Error())
		return
	}
	c.finish(w, r, resultData{Action: action, Reason: reason, Report: report})
}
