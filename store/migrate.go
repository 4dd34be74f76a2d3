package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The tables the migrations create. messagesTable is named in every query
// rather than derived from models.Message, so that the row type carries no
// storage method and a caller.s naming strategy cannot move it.
const (
	messagesTable   = "messages"
	auditTable      = "audit_log"
	migrationsTable = "courier_schema_migrations"
)

// migration is one versioned step of the schema, with its DDL for each backend.
// Steps are never edited once released; a schema change is a new step. Each
// statement is idempotent (IF NOT EXISTS) so that a step interrupted half-way on
// MySQL, where DDL commits implicitly, can simply run again.
type migration struct {
	version int
	name    string
	mysql   []string
	sqlite  []string
}

// migrations is the schema, in order.
var migrations = []migration{{
	version: 1,
	name:    "create messages",
	// utf8mb4_bin compares IDs, topics and statuses byte for byte, as Kafka and
	// SQLite do. LONGBLOB holds any payload the broker accepts.
	mysql: []string{`CREATE TABLE IF NOT EXISTS messages (
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
	// The CHECKs give SQLite MySQL's column widths, so an over-long value fails
	// the same way on both. DATETIME columns hold integer microseconds (see
	// sqlitePragmas).
	sqlite: []string{`CREATE TABLE IF NOT EXISTS messages (
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
}, {
	version: 2,
	name:    "create audit_log, index publish and completion times",
	// The console's overview counts the last hour's publishes and
	// completions; the audit log keeps every operator action.
	mysql: []string{`CREATE TABLE IF NOT EXISTS audit_log (
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
		// interruption gets "duplicate key name", which migrate takes as done.
		`ALTER TABLE messages ADD INDEX idx_messages_published (published_at)`,
		`ALTER TABLE messages ADD INDEX idx_messages_completed (completed_at)`,
	},
	sqlite: []string{`CREATE TABLE IF NOT EXISTS audit_log (
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
}, {
	version: 3,
	name:    "index status and update time, for retention",
	// Retention deletes settled messages by the time they settled, a batch at
	// a time: this index finds each batch without scanning the table.
	mysql:  []string{`ALTER TABLE messages ADD INDEX idx_messages_status_updated (status, updated_at)`},
	sqlite: []string{`CREATE INDEX IF NOT EXISTS idx_messages_status_updated ON messages (status, updated_at)`},
}}

// DDL of the migrations table itself, created before any step runs.
const (
	mysqlMigrationsDDL = `CREATE TABLE IF NOT EXISTS ` + migrationsTable + ` (
	version    INT          NOT NULL PRIMARY KEY,
	name       VARCHAR(255) NOT NULL,
	applied_at DATETIME(3)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`
	sqliteMigrationsDDL = `CREATE TABLE IF NOT EXISTS ` + migrationsTable + ` (
	version    INTEGER  NOT NULL PRIMARY KEY,
	name       TEXT     NOT NULL,
	applied_at DATETIME NOT NULL
)`
)

// mysqlSchemaLock names the advisory lock that serializes migrators of one
// database. GET_LOCK is server-wide, so the name includes the database (hashed,
// as lock names are limited to 64 characters).
const mysqlSchemaLock = "CONCAT('courier_migrate_', SHA1(DATABASE()))"

// schemaLockWait bounds how long Migrate waits for another migrator on MySQL.
const schemaLockWait = 5 * time.Minute

// Migrate brings the schema up to date by running, in order, the migrations not
// yet recorded in courier_schema_migrations. It is idempotent, and concurrent
// calls from several processes are serialized: by an advisory lock (GET_LOCK) on
// MySQL, and by one IMMEDIATE transaction on SQLite, which also makes the whole
// run atomic there.
func (s *Store) Migrate(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("migrate %s store: %w", s.driver, err)
	}
	conn, err := sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s store: %w", s.driver, err)
	}
	defer conn.Close()
	if err := s.lockSchema(ctx, conn); err != nil {
		return fmt.Errorf("migrate %s store: lock schema: %w", s.driver, err)
	}
	err = s.migrate(ctx, conn)
	if uerr := s.unlockSchema(context.WithoutCancel(ctx), conn, err == nil); err == nil && uerr != nil {
		err = fmt.Errorf("unlock schema: %w", uerr)
	}
	if err != nil {
		return fmt.Errorf("migrate %s store: %w", s.driver, err)
	}
	return nil
}

// migrate runs the pending migrations on conn, which holds the schema lock.
func (s *Store) migrate(ctx context.Context, conn *sql.Conn) error {
	ddl := mysqlMigrationsDDL
	if s.driver == DriverSQLite {
		ddl = sqliteMigrationsDDL
	}
	if _, err := conn.ExecContext(ctx, ddl); err != nil {
		return fmt.Errorf("create %s: %w", migrationsTable, err)
	}
	applied, err := appliedVersions(ctx, conn)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		if applied[m.version] {
			continue
		}
		stmts := m.mysql
		if s.driver == DriverSQLite {
			stmts = m.sqlite
		}
		for _, stmt := range stmts {
			if _, err := conn.ExecContext(ctx, stmt); err != nil && !indexExists(err) {
				return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
			}
		}
		_, err := conn.ExecContext(ctx,
			"INSERT INTO "+migrationsTable+" (version, name, applied_at) VALUES (?, ?, ?)",
			m.version, m.name, dbTime(time.Now()))
		if err != nil {
			return fmt.Errorf("record migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// indexExists reports MySQL's "duplicate key name": an index that a step
// interrupted after its ALTER TABLE had already added.
func indexExists(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1061
}

// appliedVersions reads the versions recorded in the migrations table.
func appliedVersions(ctx context.Context, conn *sql.Conn) (map[int]bool, error) {
	rows, err := conn.QueryContext(ctx, "SELECT version FROM "+migrationsTable)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("read %s: %w", migrationsTable, err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", migrationsTable, err)
	}
	return applied, nil
}

// lockSchema makes conn the only migrator of this database until unlockSchema.
func (s *Store) lockSchema(ctx context.Context, conn *sql.Conn) error {
	if s.driver == DriverSQLite {
		// Takes the write lock up front; a concurrent migrator waits on busy_timeout.
		_, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE")
		return err
	}
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqlSchemaLock+", ?)", int(schemaLockWait/time.Second)).Scan(&got)
	if err != nil {
		return err
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("another migrator held the lock for %s", schemaLockWait)
	}
	return nil
}

// unlockSchema ends what lockSchema began; on SQLite it commits the migration
// when commit is true and rolls it back otherwise.
func (s *Store) unlockSchema(ctx context.Context, conn *sql.Conn, commit bool) error {
	stmt := "DO RELEASE_LOCK(" + mysqlSchemaLock + ")"
	if s.driver == DriverSQLite {
		stmt = "ROLLBACK"
		if commit {
			stmt = "COMMIT"
		}
	}
	_, err := conn.ExecContext(ctx, stmt)
	return err
}
