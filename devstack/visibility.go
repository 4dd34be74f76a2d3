package devstack

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	persistencespb "go.temporal.io/server/api/persistence/v1"
	"google.golang.org/protobuf/proto"
	_ "modernc.org/sqlite" // driver "sqlite", as the server's own plugin uses
)

// The embedded server's SQLite visibility table, executions_visibility, comes
// with 58 indexes and two full-text tables kept by triggers. Every visibility
// write (a workflow's start, each search-attribute upsert, its close) is a
// REPLACE into that table, so it updated all 58 indexes and both full-text
// tables; that was the largest single share of the dev process's CPU
// (docs/performance.md, "Where the time goes"). slimVisibility trims it to
// what the Web UI, the server's own queries and Courier's attributes use:
//
//   - the indexes of visibilityIndexes and of the namespace's custom search
//     attributes stay; the others are dropped. A query on a dropped column
//     still answers, by scanning the namespace's rows instead of an index.
//   - the triggers write a full-text row only for a row that has a value for
//     it. Courier's workflows have none (no Text, no KeywordList attribute,
//     no build ids), so they write none; a row that has one is indexed and
//     found as before.
//
// It runs at every start on the SQLite stores, before the server opens them,
// and is idempotent. A custom search attribute registered while the server
// runs gets its index at the next start.
func slimVisibility(ctx context.Context, main, visibility, namespace string) error {
	fields, err := customSearchAttributeFields(ctx, main, namespace)
	if err != nil {
		return err
	}
	db, err := sql.Open("sqlite", "file:"+visibility+"?_pragma=busy_timeout(5000)")
	if err != nil {
		return fmt.Errorf("open %s: %w", visibility, err)
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("slim visibility: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := trimIndexes(ctx, tx, fields); err != nil {
		return err
	}
	if err := replaceFullTextTriggers(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("slim visibility: %w", err)
	}
	return nil
}

// visibilityIndexes are the indexes kept whatever the namespace: the Web UI's
// list (default_idx) and its filters on id, type, status, start and task
// queue, and the server's own queries for schedules and system workflows.
var visibilityIndexes = []string{
	"default_idx",
	"by_execution_time",
	"by_workflow_id",
	"by_workflow_type",
	"by_status",
	"by_task_queue",
	"by_temporal_scheduled_by_id",
	"by_temporal_namespace_division",
}

// customIndex is the name and statement of the index of a custom search
// attribute's column (Keyword01, Int02, ...), as Temporal's schema has it.
func customIndex(field string) (name, create string) {
	// Keyword01 → by_keyword_01: the schema's names split the number off.
	i := strings.IndexFunc(field, func(r rune) bool { return r >= '0' && r <= '9' })
	if i < 0 {
		i = len(field)
	}
	name = "by_" + strings.ToLower(field[:i]) + "_" + field[i:]
	create = fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON executions_visibility "+
		"(namespace_id, %s, (COALESCE(close_time, '9999-12-31 23:59:59+00:00')) DESC, start_time DESC, run_id)", name, field)
	return name, create
}

// customSearchAttributeFields reads the columns (Keyword01, ...) the
// namespace's custom search attributes are mapped to. The mapping is the
// server's, drawn when the attribute was registered.
func customSearchAttributeFields(ctx context.Context, main, namespace string) ([]string, error) {
	db, err := sql.Open("sqlite", "file:"+main+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", main, err)
	}
	defer db.Close()
	var data []byte
	err = db.QueryRowContext(ctx, "SELECT data FROM namespaces WHERE name = ?", namespace).Scan(&data)
	if err != nil {
		return nil, fmt.Errorf("read namespace %s: %w", namespace, err)
	}
	var detail persistencespb.NamespaceDetail
	if err := proto.Unmarshal(data, &detail); err != nil {
		return nil, fmt.Errorf("decode namespace %s: %w", namespace, err)
	}
	var fields []string
	for field := range detail.GetConfig().GetCustomSearchAttributeAliases() {
		fields = append(fields, field)
	}
	slices.Sort(fields)
	return fields, nil
}

// trimIndexes drops the table's indexes that are neither in
// visibilityIndexes nor a custom attribute's, and creates the custom
// attributes' indexes that are missing.
func trimIndexes(ctx context.Context, tx *sql.Tx, fields []string) error {
	keep := slices.Clone(visibilityIndexes)
	for _, field := range fields {
		name, create := customIndex(field)
		keep = append(keep, name)
		if _, err := tx.ExecContext(ctx, create); err != nil {
			return fmt.Errorf("create visibility index %s: %w", name, err)
		}
	}
	rows, err := tx.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL")
	if err != nil {
		return fmt.Errorf("list visibility indexes: %w", err)
	}
	var drop []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return errors.Join(fmt.Errorf("list visibility indexes: %w", err), rows.Close())
		}
		if !slices.Contains(keep, name) {
			drop = append(drop, name)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("list visibility indexes: %w", err)
	}
	for _, name := range drop {
		// The names come from sqlite_master; quoting keeps them names.
		if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS "`+name+`"`); err != nil {
			return fmt.Errorf("drop visibility index %s: %w", name, err)
		}
	}
	return nil
}

// fullTextTable is one of the schema's full-text tables over
// executions_visibility, and the columns it indexes.
type fullTextTable struct {
	name    string
	columns []string
}

var fullTextTables = []fullTextTable{
	{"executions_visibility_fts_text", []string{"Text01", "Text02", "Text03"}},
	{"executions_visibility_fts_keyword_list", []string{
		"TemporalChangeVersion", "BinaryChecksums", "BuildIds", "TemporalPauseInfo",
		"TemporalReportedProblems", "TemporalUsedWorkerDeploymentVersions",
		"KeywordList01", "KeywordList02", "KeywordList03", "TemporalKeywordList01", "TemporalKeywordList02",
	}},
}

// slimTriggerMark is in the text of the triggers replaceFullTextTriggers
// writes, which is how it knows they are there.
const slimTriggerMark = "courier: a full-text row only for a row with a value"

// replaceFullTextTriggers replaces the schema's three triggers with ones that
// write a table's full-text row only when the visibility row has a value in
// one of its columns. The first time, it deletes the full-text rows that the
// old triggers wrote for rows without any value, so that what is indexed is
// exactly what the new triggers would have written: a delete they make is
// always for a row they inserted.
func replaceFullTextTriggers(ctx context.Context, tx *sql.Tx) error {
	var marked int
	err := tx.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'executions_visibility' AND sql LIKE ?", "%"+slimTriggerMark+"%").Scan(&marked)
	if err != nil {
		return fmt.Errorf("read visibility triggers: %w", err)
	}
	if marked == 3 {
		return nil
	}
	stmts := []string{
		"DROP TRIGGER IF EXISTS executions_visibility_ai",
		"DROP TRIGGER IF EXISTS executions_visibility_ad",
		"DROP TRIGGER IF EXISTS executions_visibility_au",
	}
	for _, t := range fullTextTables {
		// Rows without values, indexed by the old triggers, leave the index.
		stmts = append(stmts, t.write("executions_visibility", true)+";")
	}
	var insert, del, update strings.Builder
	for _, t := range fullTextTables {
		insert.WriteString(t.write("NEW", false) + ";\n")
		del.WriteString(t.write("OLD", true) + ";\n")
		update.WriteString(t.write("OLD", true) + ";\n" + t.write("NEW", false) + ";\n")
	}
	trigger := func(name, event, body string) string {
		return fmt.Sprintf("CREATE TRIGGER %s AFTER %s ON executions_visibility\nBEGIN\n-- %s\n%sEND", name, event, slimTriggerMark, body)
	}
	stmts = append(stmts,
		trigger("executions_visibility_ai", "INSERT", insert.String()),
		trigger("executions_visibility_ad", "DELETE", del.String()),
		trigger("executions_visibility_au", "UPDATE", update.String()),
	)
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("replace visibility triggers: %w", err)
		}
	}
	return nil
}

// write is the statement that adds (or, with del, removes) the full-text row
// of a visibility row, when the row has a value for the table. row is NEW or
// OLD inside a trigger; executions_visibility removes the rows of every
// visibility row without a value (the old triggers indexed those too).
func (t fullTextTable) write(row string, del bool) string {
	var vals, set []string
	for _, c := range t.columns {
		vals = append(vals, row+"."+c)
		set = append(set, row+"."+c+" IS NOT NULL")
	}
	cols := t.columns
	where := strings.Join(set, " OR ")
	from := ""
	if row == "executions_visibility" {
		where = "NOT (" + where + ")"
		from = " FROM executions_visibility"
	}
	if del {
		return fmt.Sprintf("INSERT INTO %[1]s (%[1]s, rowid, %[2]s) SELECT 'delete', %[3]s.rowid, %[4]s%[5]s WHERE %[6]s",
			t.name, strings.Join(cols, ", "), row, strings.Join(vals, ", "), from, where)
	}
	return fmt.Sprintf("INSERT INTO %[1]s (rowid, %[2]s) SELECT %[3]s.rowid, %[4]s%[5]s WHERE %[6]s",
		t.name, strings.Join(cols, ", "), row, strings.Join(vals, ", "), from, where)
}
