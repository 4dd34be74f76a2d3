package producer

import "github.com/courier-mq/courier/client/dialect"

// maxIDLen is the longest message id Courier accepts.
const maxIDLen = 128

// Outcomes stored in the barrier table.
const (
	outcomeCommitted  = "committed"
	outcomeRolledBack = "rolled_back"
)

// Schema is the DDL that creates the barrier table named table in a
// database of dialect d.
func Schema(d dialect.Dialect, table string) string {
	switch d {
	case dialect.MySQL:
		return "CREATE TABLE IF NOT EXISTS " + table + ` (
	message_id ` + d.KeyType(maxIDLen) + ` NOT NULL PRIMARY KEY,
	outcome VARCHAR(16) NOT NULL,
	created_at BIGINT NOT NULL,
	KEY ` + table + `_created (created_at)
) ENGINE=InnoDB`
	default:
		return "CREATE TABLE IF NOT EXISTS " + table + ` (
	message_id ` + d.KeyType(maxIDLen) + ` NOT NULL PRIMARY KEY,
	outcome VARCHAR(16) NOT NULL,
	created_at BIGINT NOT NULL
)`
	}
}

// insert is the statement that writes a barrier row; it fails when the
// message has one.
func insert(d dialect.Dialect, table string) string {
	return "INSERT INTO " + table + " (message_id, outcome, created_at) VALUES (" + d.Params(3) + ")"
}

// insertIfAbsent writes a barrier row unless the message has one, waiting
// for a transaction that is writing one.
func insertIfAbsent(d dialect.Dialect, table string) string {
	return d.InsertIfAbsent(insert(d, table), "message_id")
}

// selectRow reads a barrier row's outcome and created_at; created_at tells
// the row a transaction wrote from another's (see Producer.Run).
func selectRow(d dialect.Dialect, table string) string {
	return "SELECT outcome, created_at FROM " + table + " WHERE message_id = " + d.Params(1)
}

func deleteBefore(d dialect.Dialect, table string) string {
	return "DELETE FROM " + table + " WHERE created_at < " + d.Params(1)
}
