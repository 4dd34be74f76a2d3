package store

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// The database drivers a Config can name.
const (
	DriverMySQL  = "mysql"
	DriverSQLite = "sqlite"
)

// Default pool sizes when Config.MaxOpenConns is 0. SQLite serializes writers
// anyway (busy_timeout makes them wait), so a few connections are enough to let
// readers run beside a writer.
const (
	defaultMySQLMaxOpenConns  = 16
	defaultSQLiteMaxOpenConns = 4
)

// mysqlConnMaxLifetime recycles pooled connections before a server or proxy
// idle timeout closes them under us.
const mysqlConnMaxLifetime = 3 * time.Minute

// Config says which database holds the messages table.
type Config struct {
	// Driver is DriverMySQL or DriverSQLite.
	Driver string
	// DSN for MySQL is a go-sql-driver DSN that names a database, e.g.
	// "courier:secret@tcp(db:3306)/courier". parseTime and loc=UTC are always
	// forced, and the session runs with STRICT_ALL_TABLES unless the DSN sets
	// sql_mode, so an over-long value is an error instead of a silent truncation.
	//
	// For SQLite it is a file path or a "file:" URI. WAL mode, busy_timeout and
	// the time encoding are added by the store; extra query parameters are kept.
	DSN string
	// MaxOpenConns caps the connection pool; 0 picks a default per driver.
	MaxOpenConns int
}

// Validate reports whether the Config can be opened, without connecting.
func (c Config) Validate() error {
	if c.MaxOpenConns < 0 {
		return fmt.Errorf("store config: max open conns %d is negative", c.MaxOpenConns)
	}
	switch c.Driver {
	case DriverMySQL:
		_, err := mysqlConfig(c.DSN)
		return err
	case DriverSQLite:
		if c.DSN == "" {
			return errors.New("store config: sqlite DSN (database file) is empty")
		}
		if strings.Contains(c.DSN, ":memory:") || strings.Contains(c.DSN, "mode=memory") {
			// Every pooled connection would open its own empty database.
			return fmt.Errorf("store config: sqlite DSN %q is in-memory; use a file", c.DSN)
		}
		return nil
	default:
		return fmt.Errorf("store config: unknown driver %q (want %q or %q)", c.Driver, DriverMySQL, DriverSQLite)
	}
}

// maxOpenConns is the pool size to use.
func (c Config) maxOpenConns() int {
	switch {
	case c.MaxOpenConns > 0:
		return c.MaxOpenConns
	case c.Driver == DriverSQLite:
		return defaultSQLiteMaxOpenConns
	default:
		return defaultMySQLMaxOpenConns
	}
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
