package conformance

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/courier-mq/courier/client/conformance/protocol"
	"github.com/courier-mq/courier/client/internal/testdb"
)

// database is a scenario's database as the runner uses it: to prepare the
// tables, to stage faults from a connection of its own, and to read what
// committed.
type database struct {
	t    testing.TB
	name string
	db   *sql.DB
	// url is how adapters open it: mysql://user@host:port/db,
	// postgres://user@host:port/db?..., sqlite:///path/to/file.
	url string
}

func newDatabase(t testing.TB, db testdb.DB) *database {
	t.Helper()
	d := &database{t: t, name: db.Name, db: db.DB}
	switch db.Name {
	case "sqlite":
		path, _, _ := strings.Cut(strings.TrimPrefix(db.DSN, "file:"), "?")
		d.url = "sqlite://" + path
	case "mysql":
		cfg, err := mysql.ParseDSN(db.DSN)
		if err != nil {
			t.Fatal(err)
		}
		u := url.URL{Scheme: "mysql", Host: cfg.Addr, Path: "/" + cfg.DBName}
		u.User = url.User(cfg.User)
		if cfg.Passwd != "" {
			u.User = url.UserPassword(cfg.User, cfg.Passwd)
		}
		d.url = u.String()
	default:
		d.url = db.DSN
	}
	stmts := []string{
		"CREATE TABLE conformance_effects (ref VARCHAR(64) NOT NULL PRIMARY KEY, message_id VARCHAR(128) NOT NULL)",
		// No key: an effect applied twice shows as two rows.
		"CREATE TABLE conformance_consumed (consumer VARCHAR(128) NOT NULL, message_id VARCHAR(128) NOT NULL, attempt INT NOT NULL)",
		"CREATE TABLE conformance_locks (id INT NOT NULL PRIMARY KEY, v INT NOT NULL)",
		"INSERT INTO conformance_locks (id, v) VALUES (1, 0), (2, 0)",
		"CREATE TABLE conformance_notes (note VARCHAR(64) NOT NULL PRIMARY KEY)",
		"CREATE TABLE conformance_filler (id INT NOT NULL PRIMARY KEY)",
	}
	for _, s := range stmts {
		testdb.Exec(t, d.db, s)
	}
	return d
}

// rebind turns "?" placeholders into the database's.
func (d *database) rebind(q string) string {
	if d.name != "postgres" {
		return q
	}
	return protocol.Numbered(q)
}

// connectionIDQuery is the query of a connection's id, as killConnection
// takes it.
func (d *database) connectionIDQuery() string {
	switch d.name {
	case "mysql":
		return "SELECT CONNECTION_ID()"
	case "postgres":
		return "SELECT pg_backend_pid()"
	}
	return "SELECT 0"
}

// isolationQuery is the query of the isolation level of the connection's
// transaction: MySQL 8 names the variable transaction_isolation, MariaDB
// before 11.1 only tx_isolation.
func (d *database) isolationQuery() string {
	switch d.name {
	case "mysql":
		var v string
		if d.db.QueryRow("SELECT @@transaction_isolation").Scan(&v) == nil {
			return "SELECT @@transaction_isolation"
		}
		return "SELECT @@tx_isolation"
	case "postgres":
		return "SHOW transaction_isolation"
	}
	return "SELECT 'serializable'"
}

// killConnection ends connection id from the server's side, as a network
// cut or a database failover does.
func (d *database) killConnection(id string) error {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return fmt.Errorf("connection id %q: %w", id, err)
	}
	switch d.name {
	case "mysql":
		_, err = d.db.Exec("KILL " + strconv.FormatInt(n, 10))
	case "postgres":
		var ok bool
		err = d.db.QueryRow("SELECT pg_terminate_backend($1)", n).Scan(&ok)
		if err == nil && !ok {
			err = fmt.Errorf("no backend %d", n)
		}
	default:
		err = fmt.Errorf("%s has no connections to kill", d.name)
	}
	return err
}

// waitLockWaiters waits until n sessions of this database wait for a row
// lock, so that a scenario knows a transaction is blocked before it moves
// on. SQLite has no such view: there it returns at once.
func (d *database) waitLockWaiters(n int) error {
	var q string
	switch d.name {
	case "mysql":
		// MariaDB's information_schema.innodb_trx is a cache that can go
		// stale for minutes, and MySQL's lock views differ from it; a
		// statement of this database still running after a second is, in
		// these scenarios, one waiting for a lock.
		q = `SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE()
			AND id <> CONNECTION_ID() AND command IN ('Query', 'Execute') AND info IS NOT NULL AND time >= 1`
	case "postgres":
		q = "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
	default:
		return nil
	}
	deadline := time.Now().Add(settleWithin)
	for {
		var have int
		if err := d.db.QueryRow(q).Scan(&have); err != nil {
			return err
		}
		if have >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sessions wait for a lock, want %d", have, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dbStep runs the runner's own transactions: db_begin tx, db_exec tx sql
// (in the background with As, collected by db_await), db_commit tx.
func (r *run) dbStep(st Step) error {
	switch st.Do {
	case "db_begin":
		tx, err := r.db.db.BeginTx(context.Background(), nil)
		if err != nil {
			return err
		}
		r.mu.Lock()
		r.txs[st.Tx] = tx
		r.mu.Unlock()
		return nil
	case "db_await":
		ch, err := named(r, r.execs, "statement", st.As)
		if err != nil {
			return err
		}
		select {
		case err := <-ch:
			return err
		case <-time.After(settleWithin):
			return fmt.Errorf("statement %s did not end within %s", st.As, settleWithin)
		}
	}
	r.mu.Lock()
	tx, ok := r.txs[st.Tx]
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("no runner transaction %q", st.Tx)
	}
	if st.Do == "db_commit" {
		return tx.Commit()
	}
	exec := func() error {
		_, err := tx.Exec(r.db.rebind(st.SQL), st.Args...)
		return err
	}
	if st.As == "" {
		return exec()
	}
	ch := make(chan error, 1)
	r.mu.Lock()
	r.execs[st.As] = ch
	r.mu.Unlock()
	go func() { ch <- exec() }()
	return nil
}
