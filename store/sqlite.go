package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	// The pure-Go SQLite driver, registered as "sqlite". The embedded Temporal
	// server links the same package, which is why neither glebarez/sqlite (a
	// second "sqlite" registration panics) nor gorm.io/driver/sqlite (cgo) fit.
	_ "modernc.org/sqlite"
)

// sqliteDialect runs the store on a SQLite file, for single-node setups and
// tests.
type sqliteDialect struct{}

// sqliteDriverName is the database/sql name modernc.org/sqlite registers.
const sqliteDriverName = "sqlite"

// sqliteMaxOpenConns is the pool size when Config.MaxOpenConns is 0. SQLite
// serializes writers anyway (busy_timeout makes them wait), so a few
// connections are enough to let readers run beside a writer.
const sqliteMaxOpenConns = 4

func (sqliteDialect) validate(dsn string) error {
	if dsn == "" {
		return errors.New("store config: sqlite DSN (database file) is empty")
	}
	if strings.Contains(dsn, ":memory:") || strings.Contains(dsn, "mode=memory") {
		// Every pooled connection would open its own empty database.
		return fmt.Errorf("store config: sqlite DSN %q is in-memory; use a file", dsn)
	}
	return nil
}

func (sqliteDialect) open(dsn string, maxOpenConns int) (*sql.DB, gorm.Dialector, error) {
	sqlDB, err := sql.Open(sqliteDriverName, sqliteDSN(dsn))
	if err != nil {
		return nil, nil, fmt.Errorf("open sqlite store: %w", err)
	}
	if maxOpenConns == 0 {
		maxOpenConns = sqliteMaxOpenConns
	}
	sqlDB.SetMaxOpenConns(maxOpenConns)
	sqlDB.SetMaxIdleConns(maxOpenConns)
	return sqlDB, sqliteDialector{conn: sqlDB}, nil
}

// sqlitePragmas come first in the DSN: modernc uses the first value of
// _time_integer_format and _inttotime, so the caller's DSN cannot change the
// time encoding. Times are stored as integer microseconds since the epoch, which
// order and compare exactly; _inttotime scans them back into time.Time for
// DATETIME columns.
const sqlitePragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
	"&_pragma=foreign_keys(1)&_time_integer_format=unix_micro&_inttotime=1"

// sqliteDSN is dsn with the store's connection parameters added.
func sqliteDSN(dsn string) string {
	path, query, _ := strings.Cut(dsn, "?")
	if query == "" {
		return path + "?" + sqlitePragmas
	}
	return path + "?" + sqlitePragmas + "&" + query
}

// permanent is false: a file that cannot be opened now, such as one on a
// volume not mounted yet, may open on a later try.
func (sqliteDialect) permanent(error) bool { return false }

func (sqliteDialect) migrationsDDL() string {
	return `CREATE TABLE IF NOT EXISTS ` + migrationsTable + ` (
	version    INTEGER  NOT NULL PRIMARY KEY,
	name       TEXT     NOT NULL,
	applied_at DATETIME NOT NULL
)`
}

func (sqliteDialect) migration(version int) []string { return sqliteMigrations[version] }

// sqliteMigrations are the statements of each migration. The CHECKs give
// SQLite MySQL's column widths, so an over-long value fails the same way on
// both. DATETIME columns hold integer microseconds (see sqlitePragmas).
var sqliteMigrations = map[int][]string{
	1: {`CREATE TABLE IF NOT EXISTS messages (
	id           TEXT     NOT NULL PRIMARY KEY CHECK (length(id) <= 128),
	topic        TEXT     NOT NULL CHECK (length(topic) <= 249),
	` + "`key`" + `        TEXT     NOT NULL DEFAULT '' CHECK (length(` + "`key`" + `) <= 1024),
	payload      BLOB,
	headers      TEXT,
	producer     TEXT     NOT NULL DEFAULT '' CHECK (length(producer) <= 128),
	check_url    TEXT     NOT NULL DEFAULT '' CHECK (length(check_url) <= 2048),
	consumers    TEXT,
	deliver_at   DATETIME,
	status       TEXT     NOT NULL CHECK (length(status) <= 32),
	check_count  INTEGER  NOT NULL DEFAULT 0,
	send_count   INTEGER  NOT NULL DEFAULT 0,
	last_error   TEXT     NOT NULL DEFAULT '' CHECK (length(last_error) <= 2048),
	created_at   DATETIME NOT NULL,
	confirmed_at DATETIME,
	published_at DATETIME,
	completed_at DATETIME,
	updated_at   DATETIME NOT NULL,
	revision     INTEGER  NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS idx_messages_status_created ON messages (status, created_at, id)`,
		`CREATE INDEX IF NOT EXISTS idx_messages_topic_created ON messages (topic, created_at, id)`,
		`CREATE INDEX IF NOT EXISTS idx_messages_producer_created ON messages (producer, created_at, id)`,
		`CREATE INDEX IF NOT EXISTS idx_messages_created ON messages (created_at, id)`,
	},
	2: {`CREATE TABLE IF NOT EXISTS audit_log (
	id       INTEGER  NOT NULL PRIMARY KEY AUTOINCREMENT,
	at       DATETIME NOT NULL,
	` + "`by`" + `     TEXT     NOT NULL CHECK (length(` + "`by`" + `) <= 64),
	action   TEXT     NOT NULL CHECK (length(action) <= 32),
	topic    TEXT     NOT NULL DEFAULT '' CHECK (length(topic) <= 249),
	reason   TEXT     NOT NULL DEFAULT '' CHECK (length(reason) <= 1024),
	outcomes TEXT
)`,
		`CREATE INDEX IF NOT EXISTS idx_audit_at ON audit_log (at)`,
		`CREATE INDEX IF NOT EXISTS idx_messages_published ON messages (published_at)`,
		`CREATE INDEX IF NOT EXISTS idx_messages_completed ON messages (completed_at)`,
	},
	3: {`CREATE INDEX IF NOT EXISTS idx_messages_status_updated ON messages (status, updated_at)`},
	4: {`CREATE TABLE IF NOT EXISTS console_sessions (
	id              TEXT     NOT NULL PRIMARY KEY CHECK (length(id) = 64),
	identity        TEXT     NOT NULL CHECK (length(identity) <= 64),
	key_fingerprint TEXT     NOT NULL CHECK (length(key_fingerprint) = 64),
	created_at      DATETIME NOT NULL,
	last_seen_at    DATETIME NOT NULL,
	expires_at      DATETIME NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS idx_console_sessions_expires ON console_sessions (expires_at)`,
	},
	5: {"CREATE INDEX IF NOT EXISTS idx_messages_key ON messages (`key`, created_at, id)",
		// SQLite has no ADD COLUMN IF NOT EXISTS: see indexExists.
		`ALTER TABLE messages ADD COLUMN status_at DATETIME`,
		`UPDATE messages SET status_at = updated_at WHERE status_at IS NULL`,
		`CREATE TABLE IF NOT EXISTS audit_messages (
	message_id TEXT    NOT NULL CHECK (length(message_id) <= 128),
	audit_id   INTEGER NOT NULL,
	PRIMARY KEY (message_id, audit_id)
) WITHOUT ROWID`,
		`INSERT OR IGNORE INTO audit_messages (message_id, audit_id)
	SELECT json_extract(j.value, '$.id'), a.id FROM audit_log a, json_each(a.outcomes) AS j
	WHERE json_valid(a.outcomes) AND json_extract(j.value, '$.id') IS NOT NULL`,
		"CREATE INDEX IF NOT EXISTS idx_audit_by ON audit_log (`by`, id)",
		`CREATE INDEX IF NOT EXISTS idx_audit_action ON audit_log (action, id)`,
	},
	6: {`CREATE TABLE IF NOT EXISTS trend_samples (
	minute DATETIME NOT NULL,
	series TEXT     NOT NULL CHECK (length(series) <= 32),
	n      INTEGER  NOT NULL,
	PRIMARY KEY (minute, series)
) WITHOUT ROWID`},
}

// minutesSince divides integer microseconds (see sqlitePragmas); the bound
// time is written as microseconds too.
func (sqliteDialect) minutesSince(col string) string { return "(" + col + " - ?) / 60000000" }

// groupsWrites: SQLite has one writer, and measured, shared transactions
// gained nothing there (docs/performance.md).
func (sqliteDialect) groupsWrites() bool { return false }

func (sqliteDialect) lockWait(time.Duration) (bound, restore string) { return "", "" }

// indexExists accepts only "duplicate column name": every other statement
// above takes what is already there, and the whole run is one transaction,
// but a schema migrated before its run was recorded has the column.
func (sqliteDialect) indexExists(err error) bool {
	return strings.Contains(err.Error(), "duplicate column name")
}

// lockSchema takes the write lock up front, so the whole run is one
// transaction; a concurrent migrator waits on busy_timeout.
func (sqliteDialect) lockSchema(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE")
	return err
}

func (sqliteDialect) unlockSchema(ctx context.Context, conn *sql.Conn, commit bool) error {
	stmt := "ROLLBACK"
	if commit {
		stmt = "COMMIT"
	}
	_, err := conn.ExecContext(ctx, stmt)
	return err
}
