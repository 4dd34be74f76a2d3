package store

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/courier-mq/courier/models"
)

// dbTime is t as the store keeps it: UTC, truncated to milliseconds (MySQL
// DATETIME(3)), without a monotonic reading. Normalising on the way in and out
// makes a row read back equal to what was written, on every backend.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

// dbTimePtr is dbTime for optional times.
func dbTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := dbTime(*t)
	return &v
}

// ceilMillis rounds t up to the next stored instant, so that for any stored
// time r, r >= t exactly when r >= ceilMillis(t) (and likewise for <).
func ceilMillis(t time.Time) time.Time {
	f := dbTime(t)
	if f.Before(t) {
		f = f.Add(time.Millisecond)
	}
	return f
}

// normaliseMessage applies dbTime to every time in m; a zero StatusAt (a row
// written without one) becomes UpdatedAt.
func normaliseMessage(m *models.Message) {
	m.CreatedAt = dbTime(m.CreatedAt)
	m.UpdatedAt = dbTime(m.UpdatedAt)
	if m.StatusAt.IsZero() {
		m.StatusAt = m.UpdatedAt
	}
	m.StatusAt = dbTime(m.StatusAt)
	m.DeliverAt = dbTimePtr(m.DeliverAt)
	m.ConfirmedAt = dbTimePtr(m.ConfirmedAt)
	m.PublishedAt = dbTimePtr(m.PublishedAt)
	m.CompletedAt = dbTimePtr(m.CompletedAt)
}

// errorText makes s fit the last_error column: valid UTF-8, at most
// models.MaxLastErrorLen characters. Error texts come from brokers and producers and
// may be anything; a long or malformed one must not fail the mirror write.
func errorText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= models.MaxLastErrorLen {
		return s
	}
	return string([]rune(s)[:models.MaxLastErrorLen])
}
