package devstack

import (
	"database/sql"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
)

// A store made by Temporal's own schema, with rows written by its triggers,
// is slimmed: the unused indexes go, the custom attributes' stay, and the
// full-text index holds exactly the rows with a value, before and after
// later writes, and passes FTS5's own integrity check. (The check against the
// content table, rank 1, would count the rows left out as missing.)
func TestSlimVisibility(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	stores := newSQLiteStores(dir)
	require.NoError(t, stores.setup())
	require.NoError(t, createNamespace(stores.main, "slim", map[string]enumspb.IndexedValueType{
		"CourierStatus": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		"CourierCount":  enumspb.INDEXED_VALUE_TYPE_INT,
	}))
	fields, err := customSearchAttributeFields(ctx, stores.main.DatabaseName, "slim")
	require.NoError(t, err)
	require.Len(t, fields, 2)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, visibilityDBFile))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	exec := func(q string, args ...any) {
		t.Helper()
		_, err := db.ExecContext(ctx, q, args...)
		require.NoError(t, err, q)
	}
	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRowContext(ctx, q, args...).Scan(&n), q)
		return n
	}
	put := func(runID, attrs string) {
		exec(`INSERT INTO executions_visibility (namespace_id, run_id, start_time, execution_time, workflow_id, workflow_type_name, status, encoding, search_attributes)
			VALUES ('ns', ?, '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00', ?, 'wf', 1, 'Proto3', ?)
			ON CONFLICT (namespace_id, run_id) DO UPDATE SET search_attributes = excluded.search_attributes`, runID, runID, attrs)
	}
	const docs = "SELECT count(*) FROM executions_visibility_fts_keyword_list_docsize"
	const matches = "SELECT count(*) FROM executions_visibility_fts_keyword_list WHERE executions_visibility_fts_keyword_list MATCH ?"
	integrity := func() {
		t.Helper()
		for _, table := range fullTextTables {
			exec("INSERT INTO " + table.name + " (" + table.name + ") VALUES ('integrity-check')")
		}
	}

	// Temporal's triggers index every row, with a value or not. Keyword
	// lists are stored joined by ♡, the full-text separator.
	put("plain", `{}`)
	put("versioned", `{"TemporalChangeVersion":"change-1"}`)
	put("built", `{"BuildIds":"unversioned:b1"}`)
	require.Equal(t, 3, count(docs))
	require.Greater(t, count("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions_visibility'"), 50)

	for range 2 { // the second run finds everything done
		require.NoError(t, slimVisibility(ctx, stores.main.DatabaseName, filepath.Join(dir, visibilityDBFile), "slim"))
		indexes := visibilityIndexNames(t, filepath.Join(dir, visibilityDBFile))
		want := slices.Clone(visibilityIndexes)
		for _, f := range fields {
			name, _ := customIndex(f)
			want = append(want, name)
		}
		require.ElementsMatch(t, want, indexes)
		require.Equal(t, 3, count("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND sql LIKE ?", "%"+slimTriggerMark+"%"))
		require.Equal(t, 2, count(docs), "the row without a value left the full-text index")
		integrity()
	}
	require.Equal(t, 1, count(matches, `TemporalChangeVersion:"change-1"`))

	// Later writes keep the index exact.
	put("new-plain", `{}`)
	require.Equal(t, 2, count(docs))
	put("plain", `{"TemporalChangeVersion":"change-2"}`)
	require.Equal(t, 3, count(docs))
	require.Equal(t, 1, count(matches, `TemporalChangeVersion:"change-2"`))
	put("versioned", `{}`)
	require.Equal(t, 2, count(docs))
	require.Zero(t, count(matches, `TemporalChangeVersion:"change-1"`))
	exec("DELETE FROM executions_visibility WHERE run_id IN ('built', 'new-plain')")
	require.Equal(t, 1, count(docs))
	integrity()
}

func TestCustomIndexNames(t *testing.T) {
	t.Parallel()
	for field, want := range map[string]string{"Keyword01": "by_keyword_01", "Int03": "by_int_03", "Datetime02": "by_datetime_02", "Bool01": "by_bool_01"} {
		name, create := customIndex(field)
		require.Equal(t, want, name)
		require.Contains(t, create, "(namespace_id, "+field+", ")
	}
}
