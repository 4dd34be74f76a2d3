package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// Page sizes for List.
const (
	defaultListLimit = 50
	maxListLimit     = 500
)

// Filter selects messages for List. Zero fields do not filter.
type Filter struct {
	Status   wire.Status
	Topic    string
	Producer string
	// IDPrefix keeps the messages whose id starts with it.
	IDPrefix string
	// Key keeps the messages whose Kafka key is exactly it.
	Key string
	// CreatedFrom and CreatedTo bound created_at to [CreatedFrom, CreatedTo).
	CreatedFrom time.Time
	CreatedTo   time.Time
	// Limit is the page size: 0 means 50, anything above 500 means 500.
	Limit int
	// Cursor continues a listing: Page.NextCursor of the previous page, with the
	// same filter. Empty starts at the newest message.
	Cursor string
}

// Page is one page of List.
type Page struct {
	Messages []models.Message
	// NextCursor fetches the next page; empty when this page is the last.
	NextCursor string
}

// List returns the messages matching f, newest first (created_at DESC, then id
// DESC). Pages are cut by keyset, so rows inserted while a client pages through
// never make it see a row twice or skip an older one. A malformed f.Cursor
// yields ErrBadCursor.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	limit := f.Limit
	switch {
	case limit <= 0:
		limit = defaultListLimit
	case limit > maxListLimit:
		limit = maxListLimit
	}
	q := s.messages(ctx)
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	if f.Topic != "" {
		q = q.Where("topic = ?", f.Topic)
	}
	if f.Producer != "" {
		q = q.Where("producer = ?", f.Producer)
	}
	if f.Key != "" {
		// The column is "key", a reserved word: the dialect quotes it.
		q = q.Where(clause.Eq{Column: clause.Column{Name: "key"}, Value: f.Key})
	}
	if f.IDPrefix != "" {
		// A range on the primary key rather than LIKE: SQLite's LIKE ignores
		// ASCII case and MySQL's binary collation does not. Ids are ASCII, so
		// the prefix's last byte plus one bounds every id that starts with it.
		p := f.IDPrefix
		q = q.Where("id >= ? AND id < ?", p, p[:len(p)-1]+string(rune(p[len(p)-1]+1)))
	}
	if !f.CreatedFrom.IsZero() {
		q = q.Where("created_at >= ?", ceilMillis(f.CreatedFrom))
	}
	if !f.CreatedTo.IsZero() {
		q = q.Where("created_at < ?", ceilMillis(f.CreatedTo))
	}
	if f.Cursor != "" {
		c, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, fmt.Errorf("list messages: %w", err)
		}
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", c.createdAt, c.createdAt, c.id)
	}
	// One extra row tells whether another page follows.
	found := make([]messageRow, 0, limit+1)
	if err := q.Order("created_at DESC, id DESC").Limit(limit + 1).Find(&found).Error; err != nil {
		return Page{}, fmt.Errorf("list messages: %w", err)
	}
	rows := make([]models.Message, len(found))
	for i, r := range found {
		rows[i] = models.Message(r)
		normaliseMessage(&rows[i])
	}
	page := Page{Messages: rows}
	if len(rows) > limit {
		page.Messages = rows[:limit]
		last := rows[limit-1]
		page.NextCursor = cursor{createdAt: last.CreatedAt, id: last.ID}.encode()
	}
	return page, nil
}
