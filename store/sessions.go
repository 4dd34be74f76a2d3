package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/courier-mq/courier/models"
)

// Session is one console sign-in as the mirror database keeps it, where
// every gateway of a deployment reads it. It holds nothing that opens the
// console or the gateway: the browser's cookie is known here only by its
// hash, and the key it was made with only by its fingerprint.
type Session struct {
	// ID is the lowercase hex SHA-256 of the session cookie's value.
	ID string
	// Identity is the name of the admin who signed in.
	Identity string
	// KeyFingerprint is access.Fingerprint of the key signed in with; the
	// session ends when no configured key has it.
	KeyFingerprint string
	CreatedAt      time.Time
	// LastSeenAt is when the session was last used, written at most once
	// per interval the console chooses, not at every page.
	LastSeenAt time.Time
	// ExpiresAt is the absolute end of the session, however it is used.
	ExpiresAt time.Time
}

// sessionRow is Session as GORM maps it to the console_sessions table.
type sessionRow Session

// TableName implements GORM's schema.Tabler.
func (sessionRow) TableName() string { return sessionsTable }

func (s *Store) sessions(ctx context.Context) *gorm.DB {
	return s.db.WithContext(ctx).Model(&sessionRow{})
}

// CreateSession stores sess. Its times are stored in UTC at millisecond
// precision.
func (s *Store) CreateSession(ctx context.Context, sess Session) error {
	row := sessionRow(sess)
	row.CreatedAt, row.LastSeenAt, row.ExpiresAt = dbTime(row.CreatedAt), dbTime(row.LastSeenAt), dbTime(row.ExpiresAt)
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("create console session of %s: %w", sess.Identity, err)
	}
	return nil
}

// Session returns the session id, or models.ErrNotFound.
func (s *Store) Session(ctx context.Context, id string) (Session, error) {
	var row sessionRow
	err := s.sessions(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Session{}, fmt.Errorf("console session: %w", models.ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("console session: %w", err)
	}
	row.CreatedAt, row.LastSeenAt, row.ExpiresAt = row.CreatedAt.UTC(), row.LastSeenAt.UTC(), row.ExpiresAt.UTC()
	return Session(row), nil
}

// TouchSession records that session id was used at at. It never moves
// LastSeenAt back, and a session deleted meanwhile stays deleted.
func (s *Store) TouchSession(ctx context.Context, id string, at time.Time) error {
	err := s.sessions(ctx).Where("id = ? AND last_seen_at < ?", id, dbTime(at)).UpdateColumn("last_seen_at", dbTime(at)).Error
	if err != nil {
		return fmt.Errorf("touch console session: %w", err)
	}
	return nil
}

// DeleteSession ends session id; ending one that does not exist is no
// error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.sessions(ctx).Where("id = ?", id).Delete(&sessionRow{}).Error; err != nil {
		return fmt.Errorf("delete console session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions deletes up to batch sessions whose absolute expiry
// is at or before now, and returns how many it deleted. Sessions that ended
// by being idle are refused when used and go when their expiry passes.
func (s *Store) DeleteExpiredSessions(ctx context.Context, now time.Time, batch int) (int64, error) {
	var ids []string
	if err := s.sessions(ctx).Where("expires_at <= ?", dbTime(now)).Limit(batch).Pluck("id", &ids).Error; err != nil {
		return 0, fmt.Errorf("find expired console sessions: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	res := s.sessions(ctx).Where("id IN ? AND expires_at <= ?", ids, dbTime(now)).Delete(&sessionRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete expired console sessions: %w", res.Error)
	}
	return res.RowsAffected, nil
}
