// Package storetest gives tests fresh, isolated message stores on every
// available backend: a SQLite file under the test's temp dir, always, and a
// database of its own on a MySQL/MariaDB server when one is available.
//
// The MySQL server is COURIER_TEST_MYSQL_DSN when that is set; the tests then
// fail if it cannot be reached. Otherwise root@tcp(127.0.0.1:3306)/ is tried
// with a 1s timeout and the MySQL half is skipped if it does not answer.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/courier-mq/courier/store"
)

// EnvMySQLDSN names the environment variable holding the MySQL server DSN for
// tests. A database name in it is ignored: every store gets its own database.
const EnvMySQLDSN = "COURIER_TEST_MYSQL_DSN"

// defaultMySQLDSN is tried when EnvMySQLDSN is not set.
const defaultMySQLDSN = "root@tcp(127.0.0.1:3306)/"

// Probe timeouts: short for the optional default server, generous for a server
// the environment asked for.
const (
	probeTimeout    = time.Second
	requiredTimeout = 10 * time.Second
)

// NewSQLite returns a migrated store on a new SQLite file under t.TempDir(),
// closed when the test ends.
func NewSQLite(t testing.TB) *store.Store {
	t.Helper()
	return open(t, SQLiteConfig(t))
}

// NewMySQL returns a migrated store on a new database of its own, closed and
// dropped when the test ends. It skips the test when no server is configured
// or reachable (see the package doc).
func NewMySQL(t testing.TB) *store.Store {
	t.Helper()
	return open(t, MySQLConfig(t))
}

// Each runs fn as a parallel subtest on a fresh store of every backend:
// "sqlite" always, "mysql" when available (skipped otherwise).
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	EachConfig(t, func(t *testing.T, cfg store.Config) {
		fn(t, open(t, cfg))
	})
}

// EachConfig is Each for tests that open stores themselves: fn gets the Config
// of a new, empty, not yet migrated database on every backend.
func EachConfig(t *testing.T, fn func(t *testing.T, cfg store.Config)) {
	t.Helper()
	backends := []struct {
		name   string
		config func(testing.TB) store.Config
	}{
		{store.DriverSQLite, SQLiteConfig},
		{store.DriverMySQL, MySQLConfig},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.config(t))
		})
	}
}

// SQLiteConfig returns the Config of a new SQLite file under t.TempDir().
func SQLiteConfig(t testing.TB) store.Config {
	t.Helper()
	return store.Config{Driver: store.DriverSQLite, DSN: filepath.Join(t.TempDir(), "courier.db")}
}

// MySQLConfig creates an empty database courier_test_<random> on the test
// server, drops it when the test ends and returns its Config. It skips the test
// when no server is configured or reachable (see the package doc).
func MySQLConfig(t testing.TB) store.Config {
	t.Helper()
	dsn, required := os.LookupEnv(EnvMySQLDSN)
	if !required {
		dsn = defaultMySQLDSN
	}
	server, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("parse %s %q: %v", EnvMySQLDSN, dsn, err)
	}
	server.DBName = ""
	pingTimeout := requiredTimeout
	if !required {
		pingTimeout = probeTimeout
		server.Timeout = probeTimeout
	}
	admin, err := sql.Open(store.DriverMySQL, server.FormatDSN())
	if err != nil {
		t.Fatalf("open MySQL test server %s: %v", server.Addr, err)
	}
	t.Cleanup(func() { _ = admin.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
	defer cancel()
	if err := admin.PingContext(ctx); err != nil {
		if required {
			t.Fatalf("MySQL test server %s from %s unreachable: %v", server.Addr, EnvMySQLDSN, err)
		}
		t.Skipf("no MySQL test server at %s (%v); set %s to require one", server.Addr, err, EnvMySQLDSN)
	}

	// 26 random base32 characters: never shared by parallel or repeated runs.
	name := "courier_test_" + strings.ToLower(rand.Text())
	exec := func(stmt string) error {
		ctx, cancel := context.WithTimeout(context.Background(), requiredTimeout)
		defer cancel()
		_, err := admin.ExecContext(ctx, stmt)
		return err
	}
	if err := exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := exec("DROP DATABASE IF EXISTS " + name); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	db := server.Clone()
	db.DBName = name
	db.Timeout = 0
	return store.Config{Driver: store.DriverMySQL, DSN: db.FormatDSN()}
}

// open opens and migrates the store of cfg and closes it when the test ends.
func open(t testing.TB, cfg store.Config) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, cfg)
	if err != nil {
		t.Fatalf("open test store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close test store: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate test store: %v", err)
	}
	return s
}
