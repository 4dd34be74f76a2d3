package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-sql-driver/mysql"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
)

// mysqlDialect runs the store on MySQL and MariaDB, for production.
type mysqlDialect struct{}

// mysqlMaxOpenConns is the pool size when Config.MaxOpenConns is 0.
const mysqlMaxOpenConns = 16

// mysqlConnMaxLifetime recycles pooled connections before a server or proxy
// idle timeout closes them under us.
const mysqlConnMaxLifetime = 3 * time.Minute

func (mysqlDialect) validate(dsn string) error {
	_, err := mysqlConfig(dsn)
	return err
}

func (mysqlDialect) open(dsn string, maxOpenConns int) (*sql.DB, gorm.Dialector, error) {
	mc, err := mysqlConfig(dsn)
	if err != nil {
		return nil, nil, err
	}
	dsn = mc.FormatDSN()
	sqlDB, err := sql.Open(DriverMySQL, dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("open mysql store: %w", err)
	}
	if maxOpenConns == 0 {
		maxOpenConns = mysqlMaxOpenConns
	}
	sqlDB.SetMaxOpenConns(maxOpenConns)
	sqlDB.SetMaxIdleConns(maxOpenConns)
	sqlDB.SetConnMaxLifetime(mysqlConnMaxLifetime)
	// MariaDB 10.5+ would otherwise get RETURNING clauses the store does not need.
	return sqlDB, gormmysql.New(gormmysql.Config{Conn: sqlDB, DSN: dsn, DSNConfig: mc, DisableWithReturning: true}), nil
}

// mysqlConfig parses dsn and forces what the store relies on: times scanned as
// time.Time in UTC, affected-row counts that tell an insert from a duplicate
// (no CLIENT_FOUND_ROWS), and strict mode.
func mysqlConfig(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("store config: parse mysql DSN: %w", err)
	}
	if cfg.DBName == "" {
		return nil, errors.New("store config: mysql DSN names no database")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = false
	if _, ok := cfg.Params["sql_mode"]; !ok {
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["sql_mode"] = "CONCAT_WS(',', NULLIF(@@sql_mode, ''), 'STRICT_ALL_TABLES')"
	}
	return cfg, nil
}

// mysqlPermanent are the server's answers that retrying cannot fix: no
// access to the database (1044), wrong credentials (1045, 1698), no such
// database (1049).
var mysqlPermanent = map[uint16]bool{1044: true, 1045: true, 1049: true, 1698: true}

func (mysqlDialect) permanent(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && mysqlPermanent[me.Number]
}

func (mysqlDialect) migrationsDDL() string {
	return `CREATE TABLE IF NOT EXISTS ` + migrationsTable + ` (
	version    INT          NOT NULL PRIMARY KEY,
	name       VARCHAR(255) NOT NULL,
	applied_at DATETIME(3)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`
}

func (mysqlDialect) migration(version int) []string { return mysqlMigrations[version] }

// mysqlMigrations are the statements of each migration. A MySQL DDL statement
// commits on its own, so each must also succeed when an interrupted run has
// already applied it: IF NOT EXISTS, or an error indexExists accepts.
var mysqlMigrations = map[int][]string{
	// utf8mb4_bin compares IDs, topics and statuses byte for byte, as Kafka and
	// SQLite do. LONGBLOB holds any payload the broker accepts.
	1: {`CREATE TABLE IF NOT EXISTS messages (
	id           VARCHAR(128)  NOT NULL,
	topic        VARCHAR(249)  NOT NULL,
	` + "`key`" + `        VARCHAR(1024) NOT NULL DEFAULT '',
	payload      LONGBLOB      NULL,
	headers      MEDIUMTEXT    NULL,
	producer     VARCHAR(128)  NOT NULL DEFAULT '',
	check_url    VARCHAR(2048) NOT NULL DEFAULT '',
	consumers    MEDIUMTEXT    NULL,
	deliver_at   DATETIME(3)   NULL,
	status       VARCHAR(32)   NOT NULL,
	check_count  INT           NOT NULL DEFAULT 0,
	send_count   INT           NOT NULL DEFAULT 0,
	last_error   VARCHAR(2048) NOT NULL DEFAULT '',
	created_at   DATETIME(3)   NOT NULL,
	confirmed_at DATETIME(3)   NULL,
	published_at DATETIME(3)   NULL,
	completed_at DATETIME(3)   NULL,
	updated_at   DATETIME(3)   NOT NULL,
	revision     BIGINT        NOT NULL,
	PRIMARY KEY (id),
	KEY idx_messages_status_created (status, created_at, id),
	KEY idx_messages_topic_created (topic, created_at, id),
	KEY idx_messages_producer_created (producer, created_at, id),
	KEY idx_messages_created (created_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`},
	2: {`CREATE TABLE IF NOT EXISTS audit_log (
	id       BIGINT        NOT NULL AUTO_INCREMENT,
	at       DATETIME(3)   NOT NULL,
	` + "`by`" + `     VARCHAR(64)   NOT NULL,
	action   VARCHAR(32)   NOT NULL,
	topic    VARCHAR(249)  NOT NULL DEFAULT '',
	reason   VARCHAR(1024) NOT NULL DEFAULT '',
	outcomes MEDIUMTEXT    NULL,
	PRIMARY KEY (id),
	KEY idx_audit_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		// MySQL 8 has no CREATE INDEX IF NOT EXISTS: a re-run after an
		// interruption gets "duplicate key name", which indexExists accepts.
		`ALTER TABLE messages ADD INDEX idx_messages_published (published_at)`,
		`ALTER TABLE messages ADD INDEX idx_messages_completed (completed_at)`,
	},
	3: {`ALTER TABLE messages ADD INDEX idx_messages_status_updated (status, updated_at)`},
	4: {`CREATE TABLE IF NOT EXISTS console_sessions (
	id              CHAR(64)    NOT NULL,
	identity        VARCHAR(64) NOT NULL,
	key_fingerprint CHAR(64)    NOT NULL,
	created_at      DATETIME(3) NOT NULL,
	last_seen_at    DATETIME(3) NOT NULL,
	expires_at      DATETIME(3) NOT NULL,
	PRIMARY KEY (id),
	KEY idx_console_sessions_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`},
	// A key is up to 1024 characters, 4096 bytes, over InnoDB's 3072-byte
	// limit: the index holds its first 255 characters, which tell keys
	// apart in practice; the row itself decides equality.
	5: {"ALTER TABLE messages ADD INDEX idx_messages_key (`key`(255), created_at, id)",
		// A re-run gets "duplicate column name", which indexExists accepts.
		`ALTER TABLE messages ADD COLUMN status_at DATETIME(3) NULL`,
		`UPDATE messages SET status_at = updated_at WHERE status_at IS NULL`,
		`CREATE TABLE IF NOT EXISTS audit_messages (
	message_id VARCHAR(128) NOT NULL,
	audit_id   BIGINT       NOT NULL,
	PRIMARY KEY (message_id, audit_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
		`INSERT INTO audit_messages (message_id, audit_id)
	SELECT j.id, a.id FROM audit_log a,
		JSON_TABLE(a.outcomes, '$[*]' COLUMNS (id VARCHAR(128) PATH '$.id')) AS j
	WHERE j.id IS NOT NULL
	ON DUPLICATE KEY UPDATE audit_id = audit_messages.audit_id`,
		"ALTER TABLE audit_log ADD INDEX idx_audit_by (`by`, id)",
		`ALTER TABLE audit_log ADD INDEX idx_audit_action (action, id)`,
	},
	6: {`CREATE TABLE IF NOT EXISTS trend_samples (
	minute DATETIME(3) NOT NULL,
	series VARCHAR(32) NOT NULL,
	n      BIGINT      NOT NULL,
	PRIMARY KEY (minute, series)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`},
}

// minutesSince uses TIMESTAMPDIFF, which reads both DATETIMEs as they are:
// unlike UNIX_TIMESTAMP it does not depend on the session's time zone.
func (mysqlDialect) minutesSince(col string) string { return "TIMESTAMPDIFF(MINUTE, ?, " + col + ")" }

// groupsWrites: InnoDB flushes its log at every commit by default, and a
// shared transaction flushes once for all its writes.
func (mysqlDialect) groupsWrites() bool { return true }

// lockWait: InnoDB's lock wait (50 s by default) goes on on the server after
// the driver drops a connection whose context ended, holding the rows the
// transaction had already written.
func (mysqlDialect) lockWait(limit time.Duration) (bound, restore string) {
	secs := max(1, int64(math.Ceil(limit.Seconds())))
	return fmt.Sprintf("SET SESSION innodb_lock_wait_timeout = %d", secs), "SET SESSION innodb_lock_wait_timeout = DEFAULT"
}

// indexExists reports MySQL's "duplicate key name" (1061) and "duplicate
// column name" (1060).
func (mysqlDialect) indexExists(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && (me.Number == 1061 || me.Number == 1060)
}

// mysqlSchemaLock names the advisory lock that serializes migrators of one
// database. GET_LOCK is server-wide, so the name includes the database (hashed,
// as lock names are limited to 64 characters).
const mysqlSchemaLock = "CONCAT('courier_migrate_', SHA1(DATABASE()))"

// mysqlSchemaLockWait bounds how long Migrate waits for another migrator.
const mysqlSchemaLockWait = 5 * time.Minute

// lockSchema takes the advisory lock; the DDL itself cannot run in a
// transaction on MySQL.
func (mysqlDialect) lockSchema(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqlSchemaLock+", ?)", int(mysqlSchemaLockWait/time.Second)).Scan(&got)
	if err != nil {
		return err
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("another migrator held the lock for %s", mysqlSchemaLockWait)
	}
	return nil
}

func (mysqlDialect) unlockSchema(ctx context.Context, conn *sql.Conn, _ bool) error {
	_, err := conn.ExecContext(ctx, "DO RELEASE_LOCK("+mysqlSchemaLock+")")
	return err
}
