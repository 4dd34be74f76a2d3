// Package testdb gives the client module's tests a fresh database on each of
// SQLite (always), MySQL/MariaDB and PostgreSQL. The servers are
// COURIER_TEST_MYSQL_DSN (e.g. root@tcp(127.0.0.1:3306)/) and
// COURIER_TEST_POSTGRES_DSN (e.g. postgres://root@127.0.0.1:5432/test);
// when one is set and unreachable the test fails, when it is unset the
// local default is tried and the database skipped if it does not answer.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite"
)

// DB is one fresh database.
type DB struct {
	// Name is "sqlite", "mysql" or "postgres".
	Name string
	DB   *sql.DB
	// DSN opens it again (another process, say).
	DSN    string
	Driver string
}

// Each runs fn in a subtest per available database, each with a new one.
func Each(t *testing.T, fn func(t *testing.T, db DB)) {
	for _, name := range []string{"sqlite", "mysql", "postgres"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, Open(t, name))
		})
	}
}

// Open returns a new database of kind name, dropped when t ends.
func Open(t testing.TB, name string) DB {
	t.Helper()
	suffix := strings.ToLower(rand.Text()[:10])
	switch name {
	case "sqlite":
		dsn := "file:" + filepath.Join(t.TempDir(), "test.db") + "?_pragma=busy_timeout(3000)&_pragma=journal_mode(WAL)"
		return open(t, DB{Name: name, Driver: "sqlite", DSN: dsn})
	case "mysql":
		server := server(t, "COURIER_TEST_MYSQL_DSN", "root@tcp(127.0.0.1:3306)/")
		cfg, err := mysql.ParseDSN(server)
		if err != nil {
			t.Fatal(err)
		}
		cfg.DBName = ""
		admin := open(t, DB{Driver: "mysql", DSN: cfg.FormatDSN()})
		db := "courier_client_" + suffix
		mustExec(t, admin.DB, "CREATE DATABASE "+db)
		t.Cleanup(func() { _, _ = admin.DB.Exec("DROP DATABASE " + db) })
		cfg.DBName = db
		return open(t, DB{Name: name, Driver: "mysql", DSN: cfg.FormatDSN()})
	case "postgres":
		server := server(t, "COURIER_TEST_POSTGRES_DSN", "postgres://root@127.0.0.1:5432/test?sslmode=disable")
		admin := open(t, DB{Driver: "pgx", DSN: server})
		db := "courier_client_" + suffix
		mustExec(t, admin.DB, "CREATE DATABASE "+db)
		t.Cleanup(func() { _, _ = admin.DB.Exec("DROP DATABASE " + db + " WITH (FORCE)") })
		u, err := url.Parse(server)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = "/" + db
		return open(t, DB{Name: name, Driver: "pgx", DSN: u.String()})
	}
	t.Fatalf("unknown database %q", name)
	return DB{}
}

// server is the DSN in env, or def when env is unset and def answers.
func server(t testing.TB, env, def string) string {
	t.Helper()
	if dsn := os.Getenv(env); dsn != "" {
		return dsn
	}
	driver := "mysql"
	if strings.HasPrefix(def, "postgres") {
		driver = "pgx"
	}
	db, err := sql.Open(driver, def)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = db.PingContext(ctx)
		cancel()
		_ = db.Close()
	}
	if err != nil {
		t.Skipf("%s is not set and %s does not answer: %v", env, def, err)
	}
	return def
}

func open(t testing.TB, d DB) DB {
	t.Helper()
	db, err := sql.Open(d.Driver, d.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("%s: %v", d.DSN, err)
	}
	d.DB = db
	return d
}

func mustExec(t testing.TB, db *sql.DB, stmt string) {
	t.Helper()
	if _, err := db.Exec(stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// Exec runs stmt on db, failing t on error.
func Exec(t testing.TB, db *sql.DB, stmt string, args ...any) {
	t.Helper()
	if _, err := db.Exec(stmt, args...); err != nil {
		t.Fatal(fmt.Errorf("%s: %w", stmt, err))
	}
}
