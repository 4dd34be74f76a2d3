package models

import (
	"fmt"
	"slices"

	"github.com/courier-mq/courier/client/wire"
)

// Action is what a producer, consumer or operator asks of a message. The
// workflow receives each as a signal or update of the same name.
type Action string

// The four actions.
const (
	// Confirm: the producer's transaction committed; send the message.
	Confirm Action = "confirm"
	// Cancel: the producer's transaction rolled back; never send it.
	Cancel Action = "cancel"
	// Complete: a consumer processed the message.
	Complete Action = "complete"
	// Redrive: an operator sends a DEAD message again.
	Redrive Action = "redrive"
)

// Disposition is what an action does to a message in a given state. The
// workflow acts on it and answers with it, so whoever asks and the workflow
// agree by construction.
type Disposition string

const (
	// Applied: the signal moves the message on.
	Applied Disposition = "applied"
	// Repeated: the signal's effect has already happened; harmless, ignored.
	Repeated Disposition = "repeated"
	// Rejected: the message's state makes the request impossible; ignored.
	Rejected Disposition = "rejected"
	// Accepted: the request is kept and takes effect later. Decide answers
	// it for a complete of a message not sent yet (WAITING_CONFIRM,
	// CHECK_EXHAUSTED, SCHEDULED): the workflow holds the completion and
	// applies it right after it publishes the message, or drops it if the
	// message is cancelled. A consumer can hold such a message: a workflow
	// task publishes the moment it decides to send, before Temporal
	// commits the task, and a task lost in between leaves the message
	// published while the workflow's state says it is not; refusing the
	// consumer would tell it a message it holds was never sent. The
	// workflows client also answers Accepted for a request it could only
	// send as a signal, which the workflow decides when it runs.
	Accepted Disposition = "accepted"
	// Failed: the message's workflow could not be asked, so nothing was
	// decided. Decide never answers it; it is what an operator's action
	// records in the audit log for such a message.
	Failed Disposition = "failed"
)

// Decide returns what action does to a message in status, with the reason
// when it is not Applied. consumers and completedBy matter only for
// Complete; completedBy holds the completions the message has, applied or
// held (with no named consumers, a held anonymous one is "").
func Decide(status wire.Status, action Action, consumer string, consumers, completedBy []string) (Disposition, string) {
	switch action {
	case Confirm:
		switch status {
		case wire.StatusWaitingConfirm, wire.StatusCheckExhausted:
			return Applied, ""
		case wire.StatusCancelled:
			return Rejected, "message was cancelled"
		default:
			return Repeated, "message is already confirmed"
		}
	case Cancel:
		switch status {
		case wire.StatusWaitingConfirm, wire.StatusCheckExhausted:
			return Applied, ""
		case wire.StatusCancelled:
			return Repeated, "message is already cancelled"
		default:
			return Rejected, "message is already confirmed"
		}
	case Complete:
		early := false
		switch status {
		case wire.StatusSending, wire.StatusDelivered, wire.StatusDead, wire.StatusCompleted:
		case wire.StatusWaitingConfirm, wire.StatusCheckExhausted, wire.StatusScheduled:
			early = true
		default:
			return Rejected, fmt.Sprintf("message is %s, it was never sent", status)
		}
		if len(consumers) > 0 {
			if consumer == "" {
				return Rejected, fmt.Sprintf("consumer name required, expected one of %v", consumers)
			}
			if !slices.Contains(consumers, consumer) {
				return Rejected, fmt.Sprintf("consumer %q is not one of %v", consumer, consumers)
			}
			if slices.Contains(completedBy, consumer) {
				return Repeated, fmt.Sprintf("consumer %q already completed", consumer)
			}
		}
		if early {
			if len(consumers) == 0 && len(completedBy) > 0 {
				return Repeated, "a completion is already held"
			}
			return Accepted, fmt.Sprintf("message is %s, not sent yet: the completion is held until it is published", status)
		}
		if status == wire.StatusCompleted {
			return Repeated, "message is already completed"
		}
		return Applied, ""
	case Redrive:
		switch status {
		case wire.StatusDead:
			return Applied, ""
		case wire.StatusSending, wire.StatusDelivered:
			return Repeated, "message is already being delivered"
		default:
			return Rejected, fmt.Sprintf("only a DEAD message can be re-driven, message is %s", status)
		}
	}
	return Rejected, fmt.Sprintf("unknown action %q", action)
}
