package store

import (
	"fmt"
)

// The database drivers a Config can name (see Drivers).
const (
	DriverMySQL  = "mysql"
	DriverSQLite = "sqlite"
)

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
	d, ok := dialects[c.Driver]
	if !ok {
		return fmt.Errorf("store config: unknown driver %q (want one of %q)", c.Driver, Drivers())
	}
	return d.validate(c.DSN)
}
