package store_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// plan is the database's query plan for q, flattened to one string.
func plan(t *testing.T, s *store.Store, q string, args ...any) string {
	t.Helper()
	explain := "EXPLAIN "
	if s.DB().Dialector.Name() == "sqlite" {
		explain = "EXPLAIN QUERY PLAN "
	}
	rows, err := s.DB().Raw(explain+q, args...).Rows()
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%s=%v ", cols[i], v)
		}
		b.WriteString("\n")
	}
	require.NoError(t, rows.Err())
	return b.String()
}

// TestSearchesUseTheirIndexes: the key search and the audit log's filters
// are served by the indexes migration 5 made, not by a scan, on every
// backend. The queries have the shape List and AuditSearch give them.
func TestSearchesUseTheirIndexes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		// Enough rows of other keys and operators that a scan costs more.
		for i := range 200 {
			m := newMessage(fmt.Sprintf("m-%03d", i), epoch().Add(time.Duration(i)*time.Second))
			m.Key = fmt.Sprintf("order-%d", i)
			_, err := s.Insert(ctx, m)
			require.NoError(t, err)
			e := models.AuditEntry{By: fmt.Sprintf("op-%d", i%50), Action: []models.Action{models.Confirm, models.Cancel, models.Redrive}[i%3],
				Outcomes: []models.AuditOutcome{{ID: m.ID, Disposition: wire.Applied}}}
			require.NoError(t, s.Audit(ctx, &e))
		}
		analyze := "ANALYZE TABLE messages, audit_log, audit_messages"
		if s.DB().Dialector.Name() == "sqlite" {
			analyze = "ANALYZE"
		}
		require.NoError(t, s.DB().Exec(analyze).Error, "refresh the statistics")

		sqlite := s.DB().Dialector.Name() == "sqlite"
		for _, c := range []struct {
			name, query string
			arg         any
			// What the plan says when the index serves the query.
			sqlite, mysql string
		}{
			{"key", "SELECT * FROM messages WHERE `key` = ? ORDER BY created_at DESC, id DESC LIMIT 51", "order-7",
				"SEARCH messages USING INDEX idx_messages_key (key=?)", "table=messages type=ref possible_keys=idx_messages_key key=idx_messages_key"},
			{"by", "SELECT * FROM audit_log WHERE `by` = ? ORDER BY id DESC LIMIT 50", "op-7",
				"SEARCH audit_log USING INDEX idx_audit_by (by=?)", "table=audit_log type=ref possible_keys=idx_audit_by key=idx_audit_by"},
			{"message", "SELECT * FROM audit_log WHERE id IN (SELECT audit_id FROM audit_messages WHERE message_id = ?) ORDER BY id DESC LIMIT 50", "m-007",
				"SEARCH audit_messages USING PRIMARY KEY (message_id=?)", "table=audit_messages type=ref possible_keys=PRIMARY key=PRIMARY"},
		} {
			p := plan(t, s, c.query, c.arg)
			want := c.mysql
			if sqlite {
				want = c.sqlite
			}
			require.Contains(t, p, want, c.name)
		}
	})
}
