package models

import "time"

// AuditEntry is one operator action: who did what to which messages, why,
// and what each message's workflow answered. Package operations writes one
// for every action taken in the console and every re-drive through the API,
// before either shows the result.
type AuditEntry struct {
	ID int64     `gorm:"primaryKey;autoIncrement" json:"id"`
	At time.Time `gorm:"autoCreateTime:false" json:"at"`
	// By is the operator's identity (its API key's name, or "anonymous" on
	// an open gateway).
	By     string `gorm:"size:64;not null" json:"by"`
	Action Action `gorm:"size:32;not null" json:"action"`
	// Topic is set for an action on every DEAD message of a topic.
	Topic  string `gorm:"size:249" json:"topic,omitempty"`
	Reason string `gorm:"size:1024" json:"reason,omitempty"`
	// Outcomes are the messages acted on, each with the workflow's answer.
	Outcomes []AuditOutcome `gorm:"serializer:json" json:"outcomes"`
}

// AuditOutcome is what one message's workflow answered an operator action.
type AuditOutcome struct {
	ID string `json:"id"`
	// Disposition is applied, repeated, rejected or accepted, or Failed
	// when the workflow could not be asked.
	Disposition Disposition `json:"disposition"`
	// Status is the status the action was decided on.
	Status Status `json:"status,omitempty"`
	Detail string `json:"detail,omitempty"`
}
