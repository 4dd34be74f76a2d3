package models

import (
	"errors"
	"time"
)

// Message is one row of the messages table: the queryable mirror of one message
// workflow. The workflow is the source of truth; this row follows it, one
// revision per lifecycle transition.
type Message struct {
	ID        string            `gorm:"primaryKey;size:128" json:"id"`
	Topic     string            `gorm:"size:249;not null" json:"topic"`
	Key       string            `gorm:"size:1024" json:"key,omitempty"`
	Payload   []byte            `json:"payload"`
	Headers   map[string]string `gorm:"serializer:json" json:"headers,omitempty"`
	Producer  string            `gorm:"size:128" json:"producer,omitempty"`
	CheckURL  string            `gorm:"size:2048" json:"check_url"`
	Consumers []string          `gorm:"serializer:json" json:"consumers,omitempty"`
	DeliverAt *time.Time        `json:"deliver_at,omitempty"`

	Status     Status `gorm:"size:32;not null" json:"status"`
	CheckCount int    `gorm:"not null" json:"check_count"`
	SendCount  int    `gorm:"not null" json:"send_count"`
	LastError  string `gorm:"size:2048" json:"last_error,omitempty"`

	CreatedAt   time.Time  `gorm:"autoCreateTime:false" json:"created_at"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	UpdatedAt   time.Time  `gorm:"autoUpdateTime:false" json:"updated_at"`
	// Revision orders the workflow's transitions (a counter, or in newer
	// workflows the history length and a counter, see workflows). A write
	// carrying a revision at or below the stored one is ignored, so retried
	// and reordered writes never move a message backwards.
	Revision int64 `gorm:"not null" json:"revision"`
}

// Transition is the part of a row that changes when the workflow moves from one
// state to the next. The workflow builds it; the mirror activity applies it.
type Transition struct {
	ID          string     `json:"id"`
	Revision    int64      `json:"revision"`
	Status      Status     `json:"status"`
	CheckCount  int        `json:"check_count"`
	SendCount   int        `json:"send_count"`
	LastError   string     `json:"last_error,omitempty"`
	ConfirmedAt *time.Time `json:"confirmed_at,omitempty"`
	PublishedAt *time.Time `json:"published_at,omitempty"`
	CompletedAt *time.Time `json:"completed_at,omitempty"`
	UpdatedAt   time.Time  `json:"updated_at"`
}

// ErrNotFound is returned, wrapped, when no message has the requested ID.
var ErrNotFound = errors.New("message not found")
