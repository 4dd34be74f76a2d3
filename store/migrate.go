package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// The tables the migrations create. The row types name theirs (see row.go),
// so that no naming strategy can move them.
const (
	messagesTable      = "messages"
	auditTable         = "audit_log"
	auditMessagesTable = "audit_messages"
	sessionsTable      = "console_sessions"
	trendsTable        = "trend_samples"
	migrationsTable    = "courier_schema_migrations"
)

// migration is one versioned step of the schema; each dialect holds its
// statements. Steps are never edited once released; a schema change is a new
// step.
type migration struct {
	version int
	name    string
}

// migrations is the schema, in order.
var migrations = []migration{
	{1, "create messages"},
	// The console's overview counts the last hour's publishes and
	// completions; the audit log keeps every operator action.
	{2, "create audit_log, index publish and completion times"},
	// Retention deletes settled messages by the time they settled, a batch at
	// a time: an index on both finds each batch without scanning the table.
	{3, "index status and update time, for retention"},
	// Console sessions live where every gateway of a deployment reads them,
	// so that they survive a restart and sign-out ends them everywhere.
	{4, "create console_sessions"},
	// Operators search by the message's key (an order number), look for how
	// long a message has been in its status, and filter the audit log by
	// operator, action and message: a message's entries are found through
	// audit_messages, since audit_log keeps them in a JSON column.
	{5, "index key, add status_at, index the audit log for its filters"},
	// The overview's trends over a day: the backlog by status has no
	// history in the messages table, so a sampler keeps it a minute at a
	// time (see trends.go).
	{6, "create trend_samples"},
}

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
	if err := s.dialect.lockSchema(ctx, conn); err != nil {
		return fmt.Errorf("migrate %s store: lock schema: %w", s.driver, err)
	}
	err = s.migrate(ctx, conn)
	if uerr := s.dialect.unlockSchema(context.WithoutCancel(ctx), conn, err == nil); err == nil && uerr != nil {
		err = fmt.Errorf("unlock schema: %w", uerr)
	}
	if err != nil {
		return fmt.Errorf("migrate %s store: %w", s.driver, err)
	}
	return nil
}

// migrate runs the pending migrations on conn, which holds the schema lock.
func (s *Store) migrate(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, s.dialect.migrationsDDL()); err != nil {
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
		stmts := s.dialect.migration(m.version)
		if len(stmts) == 0 {
			return fmt.Errorf("migration %d (%s) has no %s statements", m.version, m.name, s.driver)
		}
		for _, stmt := range stmts {
			if _, err := conn.ExecContext(ctx, stmt); err != nil && !s.dialect.indexExists(err) {
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
