package store

import (
	"context"
	"database/sql"
	"maps"
	"slices"
	"time"

	"gorm.io/gorm"
)

// dialect is everything the store does differently on one database, as a
// river driver is: Open picks one from Config.Driver, and no other code asks
// which database it runs on.
type dialect interface {
	// validate checks dsn without connecting.
	validate(dsn string) error
	// open opens the pool for dsn, holding at most maxOpenConns connections
	// (0 picks the dialect's default), and the GORM dialector over it.
	open(dsn string, maxOpenConns int) (*sql.DB, gorm.Dialector, error)
	// permanent reports whether a failed first ping is one that retrying
	// cannot fix, such as wrong credentials or a missing database.
	permanent(err error) bool

	// migrationsDDL creates the table that records the applied migrations.
	migrationsDDL() string
	// migration is the statements of migration version (see migrations).
	migration(version int) []string
	// indexExists reports a statement that failed because an interrupted
	// run of its migration had already done its work.
	indexExists(err error) bool
	// lockSchema makes conn the only migrator of the database until
	// unlockSchema, which commits the migration when commit is true on a
	// database whose lock is a transaction.
	lockSchema(ctx context.Context, conn *sql.Conn) error
	unlockSchema(ctx context.Context, conn *sql.Conn, commit bool) error

	// minutesSince is an SQL expression of the whole minutes from the time
	// bound to its one placeholder to the time in column col, for a col at
	// or after it: the per-minute trends group by it.
	minutesSince(col string) string

	// groupsWrites reports whether mirror writes are worth gathering into
	// shared transactions (see Grouper): whether each commit waits for the
	// disk, and concurrent writers can share it.
	groupsWrites() bool
	// lockWait returns the statements that bound, then restore, how long a
	// session's statements wait for a row lock: a shared transaction cut
	// off by its deadline must not keep the locks of its other writes on
	// the server until the database's own lock wait ends. Empty where
	// writes do not group.
	lockWait(limit time.Duration) (bound, restore string)
}

// dialects are the databases the store runs on, by Config.Driver.
var dialects = map[string]dialect{
	DriverMySQL:  mysqlDialect{},
	DriverSQLite: sqliteDialect{},
}

// Drivers are the names Config.Driver accepts, sorted.
func Drivers() []string { return slices.Sorted(maps.Keys(dialects)) }
