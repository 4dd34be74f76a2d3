package workflows

import (
	"fmt"
	"slices"

	"github.com/courier-mq/courier/models"
)

// Disposition is what a signal does to a message in a given state. The workflow
// acts on it, and the gateway answers with it before signalling (200 for
// Applied and Repeated, 409 for Rejected), so both agree by construction.
type Disposition string

const (
	// Applied: the signal moves the message on.
	Applied Disposition = "applied"
	// Repeated: the signal's effect has already happened; harmless, ignored.
	Repeated Disposition = "repeated"
	// Rejected: the message's state makes the request impossible; ignored.
	Rejected Disposition = "rejected"
)

// Decide returns what signal does to a message in status, with the reason
// when it is not Applied. consumers and completedBy matter only for
// SignalComplete.
func Decide(status models.Status, signal string, consumer string, consumers, completedBy []string) (Disposition, string) {
	switch signal {
	case SignalConfirm:
		switch status {
		case models.StatusWaitingConfirm, models.StatusCheckExhausted:
			return Applied, ""
		case models.StatusCancelled:
			return Rejected, "message was cancelled"
		default:
			return Repeated, "message is already confirmed"
		}
	case SignalCancel:
		switch status {
		case models.StatusWaitingConfirm, models.StatusCheckExhausted:
			return Applied, ""
		case models.StatusCancelled:
			return Repeated, "message is already cancelled"
		default:
			return Rejected, "message is already confirmed"
		}
	case SignalComplete:
		switch status {
		case models.StatusSending, models.StatusDelivered, models.StatusDead, models.StatusCompleted:
		default:
			return Rejected, fmt.Sprintf("message is %s, it has not been sent", status)
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
		if status == models.StatusCompleted {
			return Repeated, "message is already completed"
		}
		return Applied, ""
	case SignalRedrive:
		switch status {
		case models.StatusDead:
			return Applied, ""
		case models.StatusSending, models.StatusDelivered:
			return Repeated, "message is already being delivered"
		default:
			return Rejected, fmt.Sprintf("only a DEAD message can be re-driven, message is %s", status)
		}
	}
	return Rejected, fmt.Sprintf("unknown signal %q", signal)
}
