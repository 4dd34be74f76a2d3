// Package dialect is the little SQL that differs between the databases the
// producer's barrier table and the consumer's dedupe table live in:
// placeholders, insert-if-absent, key columns that compare exactly, a
// duplicate key, and a lock wait bounded by the caller's deadline.
package dialect

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
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

// KeyType is the column type of a key of up to n bytes that compares
// exactly, byte for byte: Courier's ids are case-sensitive ("order-7" and
// "ORDER-7" are two messages). MySQL's default collations ignore case and
// trailing spaces, so there it is VARBINARY.
func (d Dialect) KeyType(n int) string {
	if d == MySQL {
		return "VARBINARY(" + strconv.Itoa(n) + ")"
	}
	return "VARCHAR(" + strconv.Itoa(n) + ")"
}

// ExactKeys turns each of table's columns that MySQL compares with a
// collation (a VARCHAR of an earlier Migrate) into KeyType(n), keeping its
// rows. Elsewhere, and for columns already exact, it does nothing.
func (d Dialect) ExactKeys(ctx context.Context, db *sql.DB, table string, n int, columns ...string) error {
	if d != MySQL {
		return nil
	}
	for _, col := range columns {
		var typ string
		err := db.QueryRowContext(ctx, `SELECT DATA_TYPE FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?`, table, col).Scan(&typ)
		if err != nil {
			return fmt.Errorf("read the type of %s.%s: %w", table, col, err)
		}
		if strings.EqualFold(typ, "varbinary") {
			continue
		}
		alter := "ALTER TABLE " + table + " MODIFY " + col + " " + d.KeyType(n) + " NOT NULL"
		if _, err := db.ExecContext(ctx, alter); err != nil {
			return fmt.Errorf("make %s.%s compare exactly: %w", table, col, err)
		}
	}
	return nil
}

// Duplicate reports an insert refused because the key exists: MySQL's
// error 1062, PostgreSQL's SQLSTATE 23505, SQLite's UNIQUE or PRIMARY KEY
// constraint. It reads the error's text, which all three drivers keep.
func (d Dialect) Duplicate(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	switch d {
	case MySQL:
		return strings.Contains(msg, "Error 1062")
	case PostgreSQL:
		return strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "duplicate key value")
	default:
		return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "PRIMARY KEY constraint failed")
	}
}

// BoundedWait runs fn on one connection of db whose lock waits end by the
// time ctx's deadline passes, or after wait when ctx has none:
// innodb_lock_wait_timeout on MySQL, lock_timeout on PostgreSQL,
// busy_timeout on SQLite, each set for fn and put back after it. Without
// it a statement whose caller gave up kept waiting in the database (on
// MySQL up to 50 s, holding a connection) and SQLite's busy_timeout
// outlasted the caller's deadline.
func (d Dialect) BoundedWait(ctx context.Context, db *sql.DB, wait time.Duration, fn func(*sql.Conn) error) error {
	if dl, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(dl))
	}
	if wait <= 0 {
		return context.DeadlineExceeded
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	var show, set string
	var value string
	switch d {
	case MySQL:
		// Whole seconds, at least one: the server's unit.
		show, set = "SELECT @@SESSION.innodb_lock_wait_timeout", "SET SESSION innodb_lock_wait_timeout = "
		value = strconv.Itoa(max(1, int(math.Ceil(wait.Seconds()))))
	case PostgreSQL:
		show, set = "SHOW lock_timeout", "SET lock_timeout = "
		value = "'" + strconv.FormatInt(max(1, wait.Milliseconds()), 10) + "ms'"
	default:
		show, set = "PRAGMA busy_timeout", "PRAGMA busy_timeout = "
		value = strconv.FormatInt(max(1, wait.Milliseconds()), 10)
	}
	var old string
	if err := conn.QueryRowContext(ctx, show).Scan(&old); err != nil {
		_ = conn.Close()
		return fmt.Errorf("read the lock wait: %w", err)
	}
	if _, err := conn.ExecContext(ctx, set+value); err != nil {
		_ = conn.Close()
		return fmt.Errorf("bound the lock wait: %w", err)
	}
	ferr := fn(conn)
	if d == PostgreSQL {
		old = "'" + strings.ReplaceAll(old, "'", "''") + "'"
	}
	// Put the connection's own setting back, even when ctx is over, so the
	// pool never hands a business transaction the short wait; a connection
	// that cannot be put back is closed instead.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(rctx, set+old); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = conn.Close()
	return ferr
}
