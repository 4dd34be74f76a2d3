package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	gormsqlite "gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/conformance/protocol"
	"github.com/courier-mq/courier/client/dialect"
	"github.com/courier-mq/courier/client/gormproducer"
	"github.com/courier-mq/courier/client/producer"
)

// producerSide is what open builds.
type producerSide struct {
	mode      string
	dialect   dialect.Dialect
	db        *sql.DB
	gdb       *gorm.DB
	p         *producer.Producer
	courier   *client.Client
	effectSQL string
	// dedupeTable is the consumers' table.
	dedupeTable string
}

// open connects to the database at the isolation asked for, builds the
// producer, migrates its table and serves its check-back handler.
func (a *adapter) open(req protocol.Request) (any, error) {
	d := dialect.Dialect(req.Dialect)
	db, err := openDB(d, req.URL, req.Isolation, req.FoundRows)
	if err != nil {
		return nil, err
	}
	c, err := client.New(client.Config{URL: req.CourierURL})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", req.CheckListen)
	if err != nil {
		return nil, fmt.Errorf("listen for check-backs: %w", err)
	}
	checkURL := "http://" + ln.Addr().String() + "/courier/check"
	p, err := producer.New(c, db, producer.Config{CheckURL: checkURL, Producer: req.Producer, Dialect: d, Table: req.Table})
	if err != nil {
		return nil, err
	}
	if err := p.Migrate(context.Background()); err != nil {
		return nil, err
	}
	side := &producerSide{mode: req.Mode, dialect: d, db: db, p: p, courier: c, effectSQL: req.EffectSQL, dedupeTable: req.DedupeTable}
	switch req.Mode {
	case "sql":
	case "gorm":
		if side.gdb, err = gorm.Open(gormDialector(d, db), &gorm.Config{Logger: logger.Discard}); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown mode %q", req.Mode)
	}
	mux := http.NewServeMux()
	mux.Handle("/courier/check", p.CheckHandler())
	go func() { slog.Error("check-back server stopped", "error", http.Serve(ln, mux)) }()
	a.mu.Lock()
	a.producer = side
	a.mu.Unlock()
	return protocol.Opened{CheckURL: checkURL, RetentionFloorMS: producer.RetentionFloor().Milliseconds()}, nil
}

// openDB opens the database at url with every transaction at isolation:
// read_committed, serializable, or "" for the database's default. With
// foundRows (MySQL only) the connections report matched rows, not changed
// ones, as clientFoundRows=true in a service's DSN makes them.
func openDB(d dialect.Dialect, rawURL, isolation string, foundRows bool) (*sql.DB, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if foundRows && d != dialect.MySQL {
		return nil, fmt.Errorf("found_rows is a MySQL flag, not one of %s", d)
	}
	level := strings.ReplaceAll(isolation, "_", " ")
	switch d {
	case dialect.SQLite:
		if isolation != "" {
			return nil, fmt.Errorf("sqlite has no isolation %q", isolation)
		}
		// A writer waits for another's lock instead of failing at once.
		return sql.Open("sqlite", "file:"+u.Path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	case dialect.MySQL:
		cfg := mysql.NewConfig()
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
		cfg.Net, cfg.Addr, cfg.DBName = "tcp", u.Host, strings.TrimPrefix(u.Path, "/")
		cfg.ClientFoundRows = foundRows
		if isolation != "" {
			// MySQL 8 calls the variable transaction_isolation, MariaDB
			// before 11.1 only tx_isolation.
			name, err := isolationVariable(cfg)
			if err != nil {
				return nil, err
			}
			cfg.Params = map[string]string{name: "'" + strings.ToUpper(strings.ReplaceAll(isolation, "_", "-")) + "'"}
		}
		return sql.Open("mysql", cfg.FormatDSN())
	case dialect.PostgreSQL:
		if isolation != "" {
			q := u.Query()
			q.Set("default_transaction_isolation", level)
			u.RawQuery = q.Encode()
		}
		return sql.Open("pgx", u.String())
	}
	return nil, fmt.Errorf("unknown dialect %q", d)
}

func isolationVariable(cfg *mysql.Config) (string, error) {
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return "", err
	}
	defer db.Close()
	var v string
	if db.QueryRow("SELECT @@transaction_isolation").Scan(&v) == nil {
		return "transaction_isolation", nil
	}
	if err := db.QueryRow("SELECT @@tx_isolation").Scan(&v); err != nil {
		return "", fmt.Errorf("read the isolation variable: %w", err)
	}
	return "tx_isolation", nil
}

func gormDialector(d dialect.Dialect, db *sql.DB) gorm.Dialector {
	switch d {
	case dialect.MySQL:
		return gormmysql.New(gormmysql.Config{Conn: db})
	case dialect.PostgreSQL:
		return postgres.New(postgres.Config{Conn: db})
	}
	return gormsqlite.Dialector{Conn: db}
}

// errBusiness marks the errors the business function itself returns.
var errBusiness = errors.New("business failed")

// transaction runs one producer transaction as req describes and reports
// its outcome.
func (a *adapter) transaction(req protocol.Request) (any, error) {
	side, err := a.side()
	if err != nil {
		return nil, err
	}
	msg, err := a.message(req)
	if err != nil {
		return nil, err
	}
	// The context outlives the call, as a service's does: the client
	// must release the transaction itself, also after a panic, and not
	// rely on its context ending. Only cancel ends it.
	ctx, cancel := context.WithCancel(context.Background())
	a.mu.Lock()
	a.cancels[req.Ref] = cancel
	a.mu.Unlock()
	b := &business{a: a, side: side, ref: req.Ref, msg: msg, steps: req.Steps, values: map[string]string{}}
	outcome, err := side.run(ctx, msg, b)
	res := protocol.TxResult{MessageID: msg.ID, Outcome: outcome}
	if err != nil {
		res.Error = err.Error()
	}
	return res, nil
}

// message is req's message, or the very object an earlier call was given
// when req reuses it, as a caller retrying with its message does.
func (a *adapter) message(req protocol.Request) (*client.Message, error) {
	if req.Reuse != "" {
		m, ok := a.messages.Load(req.Reuse)
		if !ok {
			return nil, fmt.Errorf("no call %q to reuse the message of", req.Reuse)
		}
		a.messages.Store(req.Ref, m)
		return m.(*client.Message), nil
	}
	if req.Message == nil {
		return nil, errors.New("a transaction needs a message")
	}
	m := &client.Message{ID: req.Message.ID, Topic: req.Message.Topic, Key: req.Message.Key, Payload: []byte(req.Message.Payload)}
	if p := req.Message.Policy; p != nil {
		m.Policy = &client.Policy{CheckMaxAttempts: p.CheckMaxAttempts}
		for _, d := range []struct {
			s  string
			to *time.Duration
		}{{p.CheckDelay, &m.Policy.CheckDelay}, {p.CheckMaxDelay, &m.Policy.CheckMaxDelay}, {p.CheckTimeout, &m.Policy.CheckTimeout}} {
			if d.s == "" {
				continue
			}
			v, err := time.ParseDuration(d.s)
			if err != nil {
				return nil, err
			}
			*d.to = v
		}
		for _, s := range p.ResendIntervals {
			v, err := time.ParseDuration(s)
			if err != nil {
				return nil, err
			}
			m.Policy.ResendIntervals = append(m.Policy.ResendIntervals, v)
		}
	}
	a.messages.Store(req.Ref, m)
	return m, nil
}

// run calls the producer in the side's mode and maps what it returned to
// an outcome.
func (s *producerSide) run(ctx context.Context, msg *client.Message, b *business) (outcome protocol.Outcome, err error) {
	defer func() {
		if r := recover(); r != nil {
			outcome, err = protocol.Panic, fmt.Errorf("panic: %v", r)
		}
	}()
	switch s.mode {
	case "gorm":
		err = gormproducer.Transaction(ctx, s.p, s.gdb, msg, func(tx *gorm.DB) error {
			return b.run(ctx, func(q string, args []any) error { return tx.Exec(q, args...).Error },
				func(q string) (string, error) {
					var v string
					return v, tx.Raw(q).Row().Scan(&v)
				})
		})
	default:
		err = s.p.Transaction(ctx, msg, func(tx *sql.Tx) error {
			return b.run(ctx, func(q string, args []any) error {
				_, err := tx.ExecContext(ctx, s.placeholders(q), args...)
				return err
			}, func(q string) (string, error) {
				var v string
				return v, tx.QueryRowContext(ctx, q).Scan(&v)
			})
		})
	}
	return outcomeOf(err), err
}

// outcomeOf maps the producer's errors to the protocol's outcomes.
func outcomeOf(err error) protocol.Outcome {
	var apiErr *client.Error
	switch {
	case err == nil:
		return protocol.Committed
	case errors.Is(err, errBusiness):
		return protocol.BusinessError
	case errors.Is(err, producer.ErrCheckedBack):
		return protocol.CheckedBack
	case errors.Is(err, producer.ErrAlreadyCommitted):
		return protocol.AlreadyCommitted
	case errors.Is(err, producer.ErrRolledBack):
		return protocol.RolledBack
	case errors.Is(err, producer.ErrCommitUnknown):
		return protocol.CommitUnknown
	case errors.As(err, &apiErr):
		// Only the prepare's failure comes back from Courier's API; the
		// confirm's and the cancel's are left to the check-back.
		return protocol.PrepareFailed
	}
	return protocol.Error
}

// placeholders turns the protocol's "?" placeholders into the database's.
func (s *producerSide) placeholders(q string) string {
	if s.dialect != dialect.PostgreSQL {
		return q
	}
	return protocol.Numbered(q)
}

// business is one call's business function: the effect row, then the
// steps.
type business struct {
	a      *adapter
	side   *producerSide
	ref    string
	msg    *client.Message
	steps  []protocol.TxStep
	values map[string]string
}

func (b *business) run(ctx context.Context, exec func(string, []any) error, query func(string) (string, error)) error {
	if err := exec(b.side.effectSQL, []any{b.ref, b.msg.ID}); err != nil {
		return fmt.Errorf("%w: effect row: %w", errBusiness, err)
	}
	for i, st := range b.steps {
		switch {
		case st.SQL != "" && st.Report != "":
			v, err := query(st.SQL)
			if err != nil && !st.IgnoreError {
				return fmt.Errorf("%w: step %d: %w", errBusiness, i, err)
			}
			b.values[st.Report] = v
		case st.SQL != "":
			if err := exec(st.SQL, st.Args); err != nil {
				if !st.IgnoreError {
					return fmt.Errorf("%w: step %d: %w", errBusiness, i, err)
				}
				slog.Info("statement error ignored", "ref", b.ref, "step", i, "error", err)
			}
		case st.Gate != "":
			b.a.send(protocol.Response{Event: "gate", Ref: b.ref, Gate: st.Gate, MessageID: b.msg.ID, Values: b.values})
			<-b.a.gate(st.Gate)
		case st.Fail == "panic":
			panic("the business panicked at step " + strconv.Itoa(i))
		case st.Fail != "":
			return fmt.Errorf("%w: step %d says so", errBusiness, i)
		}
	}
	return nil
}

// cleanup runs the producer's cleanup with the retention asked for.
func (a *adapter) cleanup(req protocol.Request) (any, error) {
	side, err := a.side()
	if err != nil {
		return nil, err
	}
	n, err := side.p.Cleanup(context.Background(), time.Duration(req.RetentionMS)*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return protocol.Cleaned{Deleted: n}, nil
}
