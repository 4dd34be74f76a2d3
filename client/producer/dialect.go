package producer

import (
	"database/sql"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Dialect is the SQL of one database.
type Dialect string

// The supported databases.
const (
	MySQL      Dialect = "mysql" // MySQL and MariaDB, InnoDB
	PostgreSQL Dialect = "postgres"
	SQLite     Dialect = "sqlite"
)

// DetectDialect names the dialect of db's driver: go-sql-driver/mysql, pgx
// or lib/pq, and modernc.org/sqlite or mattn/go-sqlite3 are known.
func DetectDialect(db *sql.DB) (Dialect, error) {
	name := fmt.Sprintf("%T", db.Driver())
	switch {
	case strings.Contains(name, "mysql"):
		return MySQL, nil
	case strings.Contains(name, "stdlib"), strings.Contains(name, "pq."), strings.Contains(name, "pgx"):
		return PostgreSQL, nil
	case strings.Contains(name, "sqlite"):
		return SQLite, nil
	}
	return "", fmt.Errorf("producer: unknown database driver %s: set Config.Dialect", name)
}

func (d Dialect) valid() bool { return d == MySQL || d == PostgreSQL || d == SQLite }

// tableName is what Config.Table may be: a plain SQL identifier, since it is
// written into statements.
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Outcomes stored in the barrier table.
const (
	outcomeCommitted  = "committed"
	outcomeRolledBack = "rolled_back"
)

// Schema is the DDL that creates the barrier table named table.
func (d Dialect) Schema(table string) string {
	switch d {
	case MySQL:
		return "CREATE TABLE IF NOT EXISTS " + table + ` (
	message_id VARCHAR(128) NOT NULL PRIMARY KEY,
	outcome VARCHAR(16) NOT NULL,
	created_at BIGINT NOT NULL,
	KEY ` + table + `_created (created_at)
) ENGINE=InnoDB`
	default:
		return "CREATE TABLE IF NOT EXISTS " + table + ` (
	message_id VARCHAR(128) NOT NULL PRIMARY KEY,
	outcome VARCHAR(16) NOT NULL,
	created_at BIGINT NOT NULL
)`
	}
}

// index is the created_at index where CREATE TABLE cannot declare it.
func (d Dialect) index(table string) string {
	if d == MySQL {
		return ""
	}
	return "CREATE INDEX IF NOT EXISTS " + table + "_created ON " + table + " (created_at)"
}

// insert is the statement that writes a barrier row; it fails when the
// message has one.
func (d Dialect) insert(table string) string {
	return "INSERT INTO " + table + " (message_id, outcome, created_at) VALUES (" + d.params(3) + ")"
}

// insertIfAbsent writes a barrier row unless the message has one, waiting
// for a transaction that is writing one.
func (d Dialect) insertIfAbsent(table string) string {
	if d == MySQL {
		// Unlike INSERT IGNORE, this ignores only the duplicate key.
		return d.insert(table) + " ON DUPLICATE KEY UPDATE message_id = message_id"
	}
	return d.insert(table) + " ON CONFLICT (message_id) DO NOTHING"
}

func (d Dialect) selectOutcome(table string) string {
	return "SELECT outcome FROM " + table + " WHERE message_id = " + d.params(1)
}

func (d Dialect) deleteBefore(table string) string {
	return "DELETE FROM " + table + " WHERE created_at < " + d.params(1)
}

// params is n placeholders, comma-separated.
func (d Dialect) params(n int) string {
	p := make([]string, n)
	for i := range p {
		if d == PostgreSQL {
			p[i] = "$" + strconv.Itoa(i+1)
		} else {
			p[i] = "?"
		}
	}
	return strings.Join(p, ", ")
}
