package store

import (
	"context"
	"fmt"
	"time"

	"github.com/courier-mq/courier/models"
)

// Audit appends e to the audit log and sets its ID. At defaults to now.
func (s *Store) Audit(ctx context.Context, e *models.AuditEntry) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.At = dbTime(e.At)
	row := auditRow(*e)
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("write audit entry: %w", err)
	}
	e.ID = row.ID
	return nil
}

// AuditLog returns up to limit audit entries, newest first, with IDs below
// before (0 for the newest).
func (s *Store) AuditLog(ctx context.Context, limit int, before int64) ([]models.AuditEntry, error) {
	q := s.db.WithContext(ctx).Model(&auditRow{})
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []auditRow
	if err := q.Order("id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	entries := make([]models.AuditEntry, len(rows))
	for i, r := range rows {
		entries[i] = models.AuditEntry(r)
		entries[i].At = r.At.UTC()
	}
	return entries, nil
}
