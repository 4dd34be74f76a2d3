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

// What an action does to a message in a given state is a wire.Outcome
// (applied, repeated, accepted, rejected): the workflow acts on it and
// answers with it, so whoever asks and the workflow agree by construction.
// Decide answers Accepted for a complete of a message not sent yet
// (WAITING_CONFIRM, CHECK_EXHAUSTED, SCHEDULED): the workflow holds the
// completion and applies it right after it publishes the message, or drops
// it if the message is cancelled. A consumer can hold such a message: a
// workflow task publishes the moment it decides to send, before Temporal
// commits the task, and a task lost in between leaves the message published
// while the workflow's state says it is not; refusing the consumer would
// tell it a message it holds was never sent.

// Failed is the outcome an operator's action records in the audit log when
// the message's workflow could not be asked, so nothing was decided. Decide
// never answers it, and no API answer carries it.
const Failed wire.Outcome = "failed"

// Decide returns what action does to a message in status, with the reason
// when it is not Applied. consumers and completedBy matter only for
// Complete; completedBy holds the completions the message has, applied or
// held (with no named consumers, a held anonymous one is "").
func Decide(status wire.Status, action Action, consumer string, consumers, completedBy []string) (wire.Outcome, string) {
	switch action {
	case Confirm:
		switch status {
		case wire.StatusWaitingConfirm, wire.StatusCheckExhausted:
			return wire.Applied, ""
		case wire.StatusCancelled:
			return wire.Rejected, "message was cancelled"
		default:
			return wire.Repeated, "message is already confirmed"
		}
	case Cancel:
		switch status {
		case wire.StatusWaitingConfirm, wire.StatusCheckExhausted:
			return wire.Applied, ""
		case wire.StatusCancelled:
			return wire.Repeated, "message is already cancelled"
		default:
			return wire.Rejected, "message is already confirmed"
		}
	case Complete:
		early := false
		switch status {
		case wire.StatusSending, wire.StatusDelivered, wire.StatusDead, wire.StatusCompleted:
		case wire.StatusWaitingConfirm, wire.StatusCheckExhausted, wire.StatusScheduled:
			early = true
		default:
			return wire.Rejected, fmt.Sprintf("message is %s, it was never sent", status)
		}
		if len(consumers) > 0 {
			if consumer == "" {
				return wire.Rejected, fmt.Sprintf("consumer name required, expected one of %v", consumers)
			}
			if !slices.Contains(consumers, consumer) {
				return wire.Rejected, fmt.Sprintf("consumer %q is not one of %v", consumer, consumers)
			}
			if slices.Contains(completedBy, consumer) {
				return wire.Repeated, fmt.Sprintf("consumer %q already completed", consumer)
			}
		}
		if early {
			if len(consumers) == 0 && len(completedBy) > 0 {
				return wire.Repeated, "a completion is already held"
			}
			return wire.Accepted, fmt.Sprintf("message is %s, not sent yet: the completion is held until it is published", status)
		}
		if status == wire.StatusCompleted {
			return wire.Repeated, "message is already completed"
		}
		return wire.Applied, ""
	case Redrive:
		switch status {
		case wire.StatusDead:
			return wire.Applied, ""
		case wire.StatusSending, wire.StatusDelivered:
			return wire.Repeated, "message is already being delivered"
		default:
			return wire.Rejected, fmt.Sprintf("only a DEAD message can be re-driven, message is %s", status)
		}
	}
	return wire.Rejected, fmt.Sprintf("unknown action %q", action)
}
