package store

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrBadCursor is returned, wrapped, when Filter.Cursor is not a cursor that
// List produced.
var ErrBadCursor = errors.New("invalid cursor")

// cursor is the keyset position after the last message of a page: the next
// page holds the messages that sort after it in (created_at DESC, id DESC).
type cursor struct {
	createdAt time.Time
	id        string
}

// encode renders c as an opaque, URL-safe token.
func (c cursor) encode() string {
	raw := strconv.FormatInt(c.createdAt.UnixMilli(), 10) + ":" + c.id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor parses a token made by cursor.encode.
func decodeCursor(token string) (cursor, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return cursor{}, fmt.Errorf("decode cursor %q: %w", token, ErrBadCursor)
	}
	millis, id, ok := strings.Cut(string(raw), ":")
	if !ok || id == "" {
		return cursor{}, fmt.Errorf("decode cursor %q: %w", token, ErrBadCursor)
	}
	ms, err := strconv.ParseInt(millis, 10, 64)
	if err != nil {
		return cursor{}, fmt.Errorf("decode cursor %q: %w", token, ErrBadCursor)
	}
	return cursor{createdAt: time.UnixMilli(ms).UTC(), id: id}, nil
}
