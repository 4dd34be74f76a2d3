package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

func newSession(id string, at time.Time, age time.Duration) store.Session {
	return store.Session{
		ID: fmt.Sprintf("%064s", id), Identity: "ops", KeyFingerprint: strings.Repeat("f", 64),
		CreatedAt: at, LastSeenAt: at, ExpiresAt: at.Add(age),
	}
}

// A session is stored, read back, touched forward only, deleted; expired
// ones go in bounded batches, the others stay.
func TestSessions(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		at := epoch()
		sess := newSession("a", at, 8*time.Hour)
		require.NoError(t, s.CreateSession(ctx, sess))
		got, err := s.Session(ctx, sess.ID)
		require.NoError(t, err)
		require.Equal(t, sess, got)
		require.Error(t, s.CreateSession(ctx, sess), "a session id is never reused")

		require.NoError(t, s.TouchSession(ctx, sess.ID, at.Add(time.Minute)))
		require.NoError(t, s.TouchSession(ctx, sess.ID, at.Add(time.Second)))
		got, err = s.Session(ctx, sess.ID)
		require.NoError(t, err)
		require.Equal(t, at.Add(time.Minute), got.LastSeenAt, "never moved back")
		require.Equal(t, sess.ExpiresAt, got.ExpiresAt)

		require.NoError(t, s.DeleteSession(ctx, sess.ID))
		_, err = s.Session(ctx, sess.ID)
		require.ErrorIs(t, err, models.ErrNotFound)
		require.NoError(t, s.DeleteSession(ctx, sess.ID), "ending an ended session")
		require.NoError(t, s.TouchSession(ctx, sess.ID, at.Add(2*time.Minute)))
		_, err = s.Session(ctx, sess.ID)
		require.ErrorIs(t, err, models.ErrNotFound, "a touch does not bring it back")

		for i := range 5 {
			require.NoError(t, s.CreateSession(ctx, newSession(fmt.Sprintf("old%d", i), at, time.Hour)))
		}
		live := newSession("live", at, 3*time.Hour)
		require.NoError(t, s.CreateSession(ctx, live))
		n, err := s.DeleteExpiredSessions(ctx, at.Add(2*time.Hour), 3)
		require.NoError(t, err)
		require.EqualValues(t, 3, n, "one batch")
		n, err = s.DeleteExpiredSessions(ctx, at.Add(2*time.Hour), 3)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		n, err = s.DeleteExpiredSessions(ctx, at.Add(2*time.Hour), 3)
		require.NoError(t, err)
		require.Zero(t, n)
		_, err = s.Session(ctx, live.ID)
		require.NoError(t, err, "a session not yet expired stays")
	})
}
