package producer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/dialect"
)

// Courier is what the producer calls of Courier's API; *client.Client is
// one.
type Courier interface {
	Prepare(ctx context.Context, msg *client.Message) (client.Prepared, error)
	Confirm(ctx context.Context, id, reason string) (client.Answer, error)
	Cancel(ctx context.Context, id, reason string) (client.Answer, error)
}

// Config shapes a Producer.
type Config struct {
	// CheckURL is where Courier reaches CheckHandler, e.g.
	// http://payments.internal:8080/courier/check. Required.
	CheckURL string
	// Producer names the service in its messages (optional). With API keys
	// the key's name is the producer: leave it empty or give that name;
	// Courier refuses another.
	Producer string
	// Dialect is the database's SQL; empty detects it from the driver.
	Dialect dialect.Dialect
	// Table is the barrier table's name. Default DefaultTable.
	Table string
	// Logger reports what the caller cannot act on (a confirm that failed
	// after the commit). Default slog.Default().
	Logger *slog.Logger
}

// DefaultTable is the barrier table's default name.
const DefaultTable = "courier_barrier"

// Producer runs business transactions with their messages.
type Producer struct {
	courier Courier
	db      *sql.DB
	cfg     Config
}

// New returns a Producer whose barrier table is in db, the business
// database. Create the table with Migrate.
func New(courier Courier, db *sql.DB, cfg Config) (*Producer, error) {
	if courier == nil || db == nil {
		return nil, errors.New("producer: Courier and a database are required")
	}
	if cfg.CheckURL == "" {
		return nil, errors.New("producer: CheckURL is required: Courier asks it whether a transaction committed")
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if err := dialect.CheckTable(cfg.Table); err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	d, err := dialect.Resolve(cfg.Dialect, db)
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	cfg.Dialect = d
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Producer{courier: courier, db: db, cfg: cfg}, nil
}

// Migrate creates the barrier table and its index unless they exist.
func (p *Producer) Migrate(ctx context.Context) error {
	d, t := p.cfg.Dialect, p.cfg.Table
	for _, stmt := range []string{Schema(d, t), d.CreateIndex(t+"_created", t, "created_at")} {
		if stmt == "" {
			continue
		}
		if _, err := p.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("producer: create barrier table %s: %w", p.cfg.Table, err)
		}
	}
	return nil
}

// Errors of Transaction besides the business function's own.
var (
	// ErrCheckedBack: Courier's check-back found no transaction for the
	// message before this one began and answered ROLLED_BACK; the message
	// is cancelled and the business function did not run. Start again with
	// a new message.
	ErrCheckedBack = errors.New("producer: the message was already rolled back by a check-back")
	// ErrCommitUnknown: COMMIT failed, so whether the transaction committed
	// is unknown here. Courier's check-back finds out from the barrier row
	// and sends or cancels the message accordingly; do not run the business
	// function again for this message.
	ErrCommitUnknown = errors.New("producer: the commit's outcome is unknown")
)

// Tx is a database transaction as Run drives it. *sql.Tx is wrapped by
// Transaction, a GORM transaction by the gormproducer package.
type Tx interface {
	Exec(ctx context.Context, query string, args ...any) error
	Commit() error
	Rollback() error
}

// Transaction prepares msg, runs business in a transaction of the
// producer's database together with the message's barrier row, commits and
// confirms. A business error (returned unchanged) or a failure before the
// commit rolls the transaction back and cancels the message; a failed
// COMMIT is ErrCommitUnknown and is left to the check-back. nil means the
// transaction committed and the message will be delivered: a confirm that
// fails after the commit is logged, and the check-back confirms it instead.
// msg.CheckURL and msg.Producer are set from the Config; a message without
// an id gets one (set in msg).
func (p *Producer) Transaction(ctx context.Context, msg *client.Message, business func(tx *sql.Tx) error) error {
	var tx *sql.Tx
	begin := func(ctx context.Context) (Tx, error) {
		var err error
		tx, err = p.db.BeginTx(ctx, nil)
		return sqlTx{tx}, err
	}
	return p.Run(ctx, msg, begin, func(ctx context.Context) error { return business(tx) })
}

// sqlTx is a *sql.Tx as a Tx.
type sqlTx struct{ tx *sql.Tx }

func (t sqlTx) Exec(ctx context.Context, query string, args ...any) error {
	_, err := t.tx.ExecContext(ctx, query, args...)
	return err
}
func (t sqlTx) Commit() error   { return t.tx.Commit() }
func (t sqlTx) Rollback() error { return t.tx.Rollback() }

// Run is Transaction over any Tx: begin starts the transaction the barrier
// row and business share.
func (p *Producer) Run(ctx context.Context, msg *client.Message, begin func(context.Context) (Tx, error), business func(context.Context) error) error {
	msg.CheckURL = p.cfg.CheckURL
	if msg.Producer == "" {
		msg.Producer = p.cfg.Producer
	}
	if _, err := p.courier.Prepare(ctx, msg); err != nil {
		return fmt.Errorf("producer: prepare message: %w", err)
	}
	id := msg.ID
	tx, err := begin(ctx)
	if err != nil {
		p.cancel(ctx, id, "transaction did not begin")
		return fmt.Errorf("producer: begin transaction for message %s: %w", id, err)
	}
	if err := tx.Exec(ctx, insert(p.cfg.Dialect, p.cfg.Table), id, outcomeCommitted, time.Now().UnixMilli()); err != nil {
		_ = tx.Rollback()
		if outcome, oerr := p.outcome(ctx, id); oerr == nil && outcome == outcomeRolledBack {
			return fmt.Errorf("%w (message %s)", ErrCheckedBack, id)
		}
		p.cancel(ctx, id, "barrier row not written")
		return fmt.Errorf("producer: write barrier row for message %s: %w", id, err)
	}
	if err := business(ctx); err != nil {
		_ = tx.Rollback()
		p.cancel(ctx, id, "business transaction failed")
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%w: message %s: %v", ErrCommitUnknown, id, err)
	}
	if _, err := p.courier.Confirm(context.WithoutCancel(ctx), id, ""); err != nil {
		p.cfg.Logger.Warn("courier: confirm after commit failed; the check-back will confirm the message", "id", id, "error", err)
	}
	return nil
}

// cancel tells Courier the message's transaction rolled back. It is a
// shortcut: without it the check-back finds the same, later.
func (p *Producer) cancel(ctx context.Context, id, reason string) {
	if _, err := p.courier.Cancel(context.WithoutCancel(ctx), id, reason); err != nil && !errors.Is(err, client.ErrConflict) {
		p.cfg.Logger.Warn("courier: cancel failed; the check-back will cancel the message", "id", id, "error", err)
	}
}

// outcome reads message id's barrier row.
func (p *Producer) outcome(ctx context.Context, id string) (string, error) {
	var outcome string
	err := p.db.QueryRowContext(ctx, selectOutcome(p.cfg.Dialect, p.cfg.Table), id).Scan(&outcome)
	return outcome, err
}

// Cleanup deletes barrier rows older than retention, which must outlast the
// check-back schedule of every message still waiting for its producer (a
// deleted committed row would be answered ROLLED_BACK). It refuses a
// retention under an hour.
func (p *Producer) Cleanup(ctx context.Context, retention time.Duration) (int64, error) {
	if retention < time.Hour {
		return 0, fmt.Errorf("producer: retention %s is under an hour; it must outlast every check-back schedule", retention)
	}
	res, err := p.db.ExecContext(ctx, deleteBefore(p.cfg.Dialect, p.cfg.Table), time.Now().Add(-retention).UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("producer: clean up barrier table: %w", err)
	}
	return res.RowsAffected()
}
