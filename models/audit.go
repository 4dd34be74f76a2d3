package models

import (
	"time"

	"github.com/courier-mq/courier/client/wire"
)

// AuditEntry is one operator action: who did what to which messages, why,
// and what each message's workflow answered. Package operations writes one
// for every action taken in the console and every re-drive through the API,
// before either shows the result.
type AuditEntry struct {
	ID int64     `json:"id"`
	At time.Time `json:"at"`
	// By is the operator's identity (its API key's name, or "anonymous" on
	// an open gateway).
	By     string `json:"by"`
	Action Action `json:"action"`
	// Topic is set for an action on every DEAD message of a topic.
	Topic  string `json:"topic,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Outcomes are the messages acted on, each with the workflow's answer.
	Outcomes []AuditOutcome `json:"outcomes"`
}

// AuditOutcome is what one message's workflow answered an operator action.
type AuditOutcome struct {
	ID string `json:"id"`
	// Disposition is applied, repeated, rejected or accepted, or Failed
	// when the workflow could not be asked.
	Disposition wire.Outcome `json:"disposition"`
	// Status is the status the action was decided on.
	Status wire.Status `json:"status,omitempty"`
	Detail string      `json:"detail,omitempty"`
}
