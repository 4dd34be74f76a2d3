package store_test

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// TestColumnsHoldTheirLimits writes, on every database, a value of each
// limited column at its models limit and one character over: the first must
// fit and the second be refused, so a limit and its column cannot drift
// apart. "ü" is two bytes, as the limits count characters.
func TestColumnsHoldTheirLimits(t *testing.T) {
	t.Parallel()
	required := map[string]map[string]any{
		"messages": {"topic": "orders", "status": string(wire.StatusWaitingConfirm),
			"created_at": epoch(), "updated_at": epoch(), "revision": 1},
		"audit_log": {"at": epoch(), "by": "ops", "action": string(models.Redrive)},
	}
	columns := []struct {
		table, column string
		limit         int
	}{
		{"messages", "id", wire.MaxIDLen},
		{"messages", "topic", wire.MaxTopicLen},
		{"messages", "key", wire.MaxKeyLen},
		{"messages", "producer", wire.MaxProducerLen},
		{"messages", "check_url", wire.MaxCheckURLLen},
		{"messages", "status", models.MaxStatusLen},
		{"messages", "last_error", models.MaxLastErrorLen},
		{"audit_log", "by", wire.MaxConsumerLen},
		{"audit_log", "action", models.MaxStatusLen},
		{"audit_log", "topic", wire.MaxTopicLen},
		{"audit_log", "reason", wire.MaxReasonLen},
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		for i, c := range columns {
			insert := func(n int) error {
				row := maps.Clone(required[c.table])
				if c.table == "messages" {
					row["id"] = fmt.Sprintf("m-%d-%d", i, n)
				}
				row[c.column] = strings.Repeat("ü", n)
				names := slices.Sorted(maps.Keys(row))
				values := make([]any, len(names))
				for j, name := range names {
					values[j] = row[name]
				}
				return s.DB().Exec("INSERT INTO "+c.table+" (`"+strings.Join(names, "`, `")+"`) VALUES (?"+
					strings.Repeat(", ?", len(names)-1)+")", values...).Error
			}
			require.NoError(t, insert(c.limit), "%s.%s must hold %d characters", c.table, c.column, c.limit)
			require.Error(t, insert(c.limit+1), "%s.%s must refuse %d characters", c.table, c.column, c.limit+1)
		}
	})
}
