package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/courier-mq/courier/models"
)

// Audit appends e to the audit log and sets its ID. At defaults to now. The
// entry and its links to the messages it names are written together.
func (s *Store) Audit(ctx context.Context, e *models.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = dbTime(e.At)
	row := auditRow(*e)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		links := make([]auditMessageRow, 0, len(e.Outcomes))
		seen := make(map[string]bool, len(e.Outcomes))
		for _, o := range e.Outcomes {
			if !seen[o.ID] {
				seen[o.ID] = true
				links = append(links, auditMessageRow{MessageID: o.ID, AuditID: row.ID})
			}
		}
		if len(links) == 0 {
			return nil
		}
		return tx.Create(&links).Error
	})
	if err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	e.ID = row.ID
	return nil
}

// AuditFilter selects audit entries for AuditSearch. Zero fields do not
// filter.
type AuditFilter struct {
	// By is the operator, Action what was done, exactly.
	By     string
	Action models.Action
	// MessageID keeps the entries that acted on this message.
	MessageID string
	// From and To bound the entry's time to [From, To).
	From, To time.Time
	// Before continues a listing: the ID of the last entry of the previous
	// page (entries come newest first); 0 starts at the newest.
	Before int64
	// Limit is the page size, at least 1.
	Limit int
}

// AuditSearch returns up to f.Limit audit entries matching f, newest (highest
// ID) first. Each filter has an index: by and action with the ID, the
// time, and the message through audit_messages.
func (s *Store) AuditSearch(ctx context.Context, f AuditFilter) ([]models.AuditEntry, error) {
	if f.Limit < 1 {
		return nil, fmt.Errorf("read audit log: limit %d is not positive", f.Limit)
	}
	q := s.db.WithContext(ctx).Model(&auditRow{})
	if f.By != "" {
		q = q.Where("`by` = ?", f.By)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.MessageID != "" {
		q = q.Where("id IN (?)", s.db.Model(&auditMessageRow{}).Select("audit_id").Where("message_id = ?", f.MessageID))
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", ceilMillis(f.From))
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", ceilMillis(f.To))
	}
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	var rows []auditRow
	if err := q.Order("id DESC").Limit(f.Limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	entries := make([]models.AuditEntry, len(rows))
	for i, r := range rows {
		entries[i] = models.AuditEntry(r)
		entries[i].At = r.At.UTC()
	}
	return entries, nil
}

// AuditLog returns up to limit audit entries, newest first, with IDs below
// before (0 for the newest): AuditSearch without filters.
func (s *Store) AuditLog(ctx context.Context, limit int, before int64) ([]models.AuditEntry, error) {
	return s.AuditSearch(ctx, AuditFilter{Limit: limit, Before: before})
}
