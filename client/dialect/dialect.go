// Package dialect is the little SQL that differs between the databases the
// producer's barrier table and the consumer's dedupe table live in:
// placeholders and insert-if-absent.
package dialect

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

// Detect names the dialect of db's driver: go-sql-driver/mysql, pgx or
// lib/pq, and modernc.org/sqlite or mattn/go-sqlite3 are known.
func Detect(db *sql.DB) (Dialect, error) {
	name := fmt.Sprintf("%T", db.Driver())
	switch {
	case strings.Contains(name, "mysql"):
		return MySQL, nil
	case strings.Contains(name, "stdlib"), strings.Contains(name, "pq."), strings.Contains(name, "pgx"):
		return PostgreSQL, nil
	case strings.Contains(name, "sqlite"):
		return SQLite, nil
	}
	return "", fmt.Errorf("unknown database driver %s: set the Dialect", name)
}

// Resolve is d, or when empty the dialect of db; an unknown one is an error.
func Resolve(d Dialect, db *sql.DB) (Dialect, error) {
	if d == "" {
		return Detect(db)
	}
	if d != MySQL && d != PostgreSQL && d != SQLite {
		return "", fmt.Errorf("unknown dialect %q", d)
	}
	return d, nil
}

// tableName is what a configurable table name may be: a plain SQL
// identifier, since it is written into statements.
var tableName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// CheckTable refuses a table name that is not a plain SQL identifier.
func CheckTable(name string) error {
	if !tableName.MatchString(name) {
		return fmt.Errorf("table %q is not a plain SQL name", name)
	}
	return nil
}

// Params is n placeholders, comma-separated.
func (d Dialect) Params(n int) string {
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

// InsertIfAbsent turns "INSERT INTO t (cols) VALUES (...)" into one that
// does nothing when the row's key exists, waiting for a transaction that is
// writing that key. key lists the key's columns.
func (d Dialect) InsertIfAbsent(insert, key string) string {
	if d == MySQL {
		// Unlike INSERT IGNORE, this ignores only the duplicate key.
		first := strings.TrimSpace(strings.Split(key, ",")[0])
		return insert + " ON DUPLICATE KEY UPDATE " + first + " = " + first
	}
	return insert + " ON CONFLICT (" + key + ") DO NOTHING"
}

// CreateIndex is the statement creating an index, for the databases whose
// CREATE TABLE cannot declare one ("" for MySQL, where it can).
func (d Dialect) CreateIndex(name, table, columns string) string {
	if d == MySQL {
		return ""
	}
	return "CREATE INDEX IF NOT EXISTS " + name + " ON " + table + " (" + columns + ")"
}
