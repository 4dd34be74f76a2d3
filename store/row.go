package store

import (
	"time"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// messageRow is models.Message as GORM maps it to the messages table, so that
// models stays storage-free vocabulary. The two have the same fields, so each
// converts to the other with a plain conversion, and a field added to one
// alone does not compile. The tags only steer GORM's queries: the schema is
// the migrations' DDL.
type messageRow struct {
	ID        string
	Topic     string
	Key       string
	Payload   []byte
	Headers   map[string]string `gorm:"serializer:json"`
	Producer  string
	CheckURL  string
	Consumers []string `gorm:"serializer:json"`
	DeliverAt *time.Time

	Status     wire.Status
	CheckCount int
	SendCount  int
	LastError  string

	// The workflow's times, written as given: GORM must not stamp its own.
	CreatedAt   time.Time `gorm:"autoCreateTime:false"`
	ConfirmedAt *time.Time
	PublishedAt *time.Time
	CompletedAt *time.Time
	UpdatedAt   time.Time `gorm:"autoUpdateTime:false"`
	// StatusAt is NULL only on a row an older version wrote after
	// migration 5; normaliseMessage reads it as UpdatedAt.
	StatusAt time.Time
	Revision int64
}

// TableName implements GORM's schema.Tabler.
func (messageRow) TableName() string { return messagesTable }

// auditRow is models.AuditEntry as GORM maps it to the audit_log table.
type auditRow struct {
	ID       int64
	At       time.Time
	By       string
	Action   models.Action
	Topic    string
	Reason   string
	Outcomes []models.AuditOutcome `gorm:"serializer:json"`
}

// TableName implements GORM's schema.Tabler.
func (auditRow) TableName() string { return auditTable }

// auditMessageRow links an audit entry to one message it acted on, so that a
// message's entries are found by index (audit_log keeps the outcomes as JSON).
type auditMessageRow struct {
	MessageID string
	AuditID   int64
}

// TableName implements GORM's schema.Tabler.
func (auditMessageRow) TableName() string { return auditMessagesTable }
