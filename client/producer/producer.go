package producer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/dialect"
	"github.com/courier-mq/courier/client/internal/tracecontext"
	"github.com/courier-mq/courier/client/wire"
)

// Courier is what the producer calls of Courier's API; *client.Client is
// one.
type Courier interface {
	Prepare(ctx context.Context, msg *client.Message) (client.Prepared, error)
	Confirm(ctx context.Context, id, reason string) (wire.SignalResponse, error)
	Cancel(ctx context.Context, id, reason string) (wire.SignalResponse, error)
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
	// Retention is how long barrier rows are kept; the producer deletes
	// older ones itself, at most once per CleanupEvery, from the calls it
	// serves (Transaction and the check-back). It must outlast the
	// check-back schedule of every message: New refuses one under
	// RetentionFloor, Transaction a message whose own policy needs more.
	// Default DefaultRetention; negative turns the cleanup off (then call
	// Cleanup yourself).
	Retention time.Duration
	// CleanupEvery is the least time between two background cleanups.
	// Default an hour.
	CleanupEvery time.Duration
	// CheckWait bounds how long a check-back waits for a transaction in
	// flight that holds the message's barrier row, when the request has no
	// earlier deadline; it then answers UNKNOWN and Courier asks again.
	// Default 5 s, under Courier's default check-back timeout of 10 s.
	CheckWait time.Duration
}

// DefaultRetention is how long barrier rows are kept by default: far
// beyond the default check-back schedule (about 65 minutes), so that a
// message parked by a long outage is still answered right.
const DefaultRetention = 7 * 24 * time.Hour

// RetentionFloor is the shortest retention Cleanup and New accept: twice
// the time from prepare to the last check-back under the default policy
// (wire.DefaultTiming), the margin covering check-backs that run late
// while Courier's worker is down.
func RetentionFloor() time.Duration { return retentionFor(wire.DefaultTiming()) }

// retentionFor is the least retention that covers a message with timing p.
func retentionFor(p wire.Timing) time.Duration { return 2 * p.CheckSpan() }

// DefaultTable is the barrier table's default name.
const DefaultTable = "courier_barrier"

// Producer runs business transactions with their messages. It is safe for
// concurrent use.
type Producer struct {
	courier Courier
	db      *sql.DB
	cfg     Config
	cleanup cleanupRun
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
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Retention > 0 && cfg.Retention < RetentionFloor() {
		return nil, fmt.Errorf("producer: Retention %s is under %s: a committed barrier row deleted before the last check-back is answered ROLLED_BACK", cfg.Retention, RetentionFloor())
	}
	if cfg.CleanupEvery <= 0 {
		cfg.CleanupEvery = time.Hour
	}
	if cfg.CheckWait <= 0 {
		cfg.CheckWait = 5 * time.Second
	}
	return &Producer{courier: courier, db: db, cfg: cfg}, nil
}

// Migrate creates the barrier table and its index unless they exist, and
// makes the message id of a MySQL table made by an earlier version compare
// exactly (it ignored case).
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
	if err := d.ExactKeys(ctx, p.db, t, maxIDLen, "message_id"); err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	return nil
}

// Errors of Transaction besides the business function's own. Each says
// whether the transaction committed; only ErrCommitUnknown does not know.
var (
	// ErrCheckedBack: the message's transaction is settled as rolled back
	// (an earlier Transaction with this message failed, or a check-back
	// found no transaction for it); the message is cancelled and the
	// business function did not run. Start again with a new message.
	ErrCheckedBack = errors.New("producer: the message's transaction is already rolled back")
	// ErrAlreadyCommitted: the message's transaction committed in an
	// earlier call (a retry after an error whose commit had happened); the
	// message is sent and the business function did not run again. Treat
	// it as success.
	ErrAlreadyCommitted = errors.New("producer: the message's transaction already committed")
	// ErrRolledBack: the transaction did not commit though the business
	// function returned nil — the context ended before COMMIT, COMMIT
	// failed, or the database rolled the transaction back under a
	// statement error the business function ignored (a deadlock on
	// MySQL/MariaDB); the barrier row proves it and the message is
	// cancelled. The error wraps the cause.
	ErrRolledBack = errors.New("producer: the transaction rolled back")
	// ErrCommitUnknown: COMMIT failed and the database could not be asked
	// whether it happened. Courier's check-back finds out from the barrier
	// row and sends or cancels the message accordingly; a retry with the
	// same message is safe: it runs the business function only if the
	// first did not commit.
	ErrCommitUnknown = errors.New("producer: the commit's outcome is unknown")
)

// Tx is a database transaction as Run drives it. *sql.Tx is wrapped by
// Transaction, a GORM transaction by the gormproducer package.
type Tx interface {
	Exec(ctx context.Context, query string, args ...any) error
	// QueryRow runs a query expected to return at most one row, in the
	// transaction.
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
	Commit() error
	Rollback() error
}

// Transaction prepares msg, runs business in a transaction of the
// producer's database together with the message's barrier row, commits and
// confirms: nil means the transaction committed and the message will be
// delivered. A business error comes back unchanged, a panic goes on to the
// caller, each after the transaction rolled back and the message was
// cancelled; the other errors are this package's (ErrCheckedBack,
// ErrAlreadyCommitted, ErrRolledBack, ErrCommitUnknown) or wrap the
// client's (a prepare that failed: nothing ran). msg.CheckURL and
// msg.Producer are set from the Config; a message without an id gets one
// (set in msg).
//
// Retrying is safe: a message is one transaction. A retry with the same
// message (or id) after its transaction committed returns
// ErrAlreadyCommitted, after it rolled back ErrCheckedBack, in both cases
// before business runs; after ErrCommitUnknown it runs business only if
// the first transaction did not commit. Two calls with one id at once
// commit at most one transaction, and its message is sent.
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
func (t sqlTx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, query, args...)
}
func (t sqlTx) Commit() error   { return t.tx.Commit() }
func (t sqlTx) Rollback() error { return t.tx.Rollback() }

// Run is Transaction over any Tx: begin starts the transaction the barrier
// row and business share.
//
// The rule behind every branch: the barrier row decides. A transaction
// that did not commit is settled by inserting a rolled_back row (what a
// check-back does) before the message is cancelled, so a cancel can never
// race a commit of the same id; a message is confirmed only once the
// committed row is known to be there.
//
// The whole call is one span, "transaction <topic>" (a child of ctx's), that
// the prepare, business and confirm or cancel run in: the message keeps its
// trace context from there for its whole life in Courier and to its
// consumers.
func (p *Producer) Run(ctx context.Context, msg *client.Message, begin func(context.Context) (Tx, error), business func(context.Context) error) (err error) {
	ctx, span := tracecontext.Tracer().Start(ctx, "transaction "+msg.Topic, trace.WithAttributes(
		attribute.String("messaging.system", "courier"), attribute.String("messaging.destination.name", msg.Topic)))
	defer func() {
		span.SetAttributes(attribute.String("messaging.message.id", msg.ID))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	return p.run(ctx, msg, begin, business)
}

func (p *Producer) run(ctx context.Context, msg *client.Message, begin func(context.Context) (Tx, error), business func(context.Context) error) (err error) {
	msg.CheckURL = p.cfg.CheckURL
	if msg.Producer == "" {
		msg.Producer = p.cfg.Producer
	}
	if p.cfg.Retention > 0 {
		timing := wire.DefaultTiming()
		if msg.Policy != nil {
			timing = timing.Override(*msg.Policy)
		}
		if need := retentionFor(timing); need > p.cfg.Retention {
			return fmt.Errorf("producer: message's check-back schedule needs barrier rows kept %s, Retention is %s: raise Retention or shorten the policy", need, p.cfg.Retention)
		}
	}
	p.cleanupSoon(ctx)
	prepared, err := p.courier.Prepare(ctx, msg)
	if err != nil {
		return fmt.Errorf("producer: prepare message: %w", err)
	}
	id := msg.ID
	switch prepared.Status {
	case wire.StatusWaitingConfirm, wire.StatusCheckExhausted:
		// Open: the barrier row decides below.
	case wire.StatusCancelled:
		return fmt.Errorf("%w: message %s is CANCELLED", ErrCheckedBack, id)
	default:
		return fmt.Errorf("%w: message %s is %s", ErrAlreadyCommitted, id, prepared.Status)
	}
	tx, err := begin(ctx)
	if err != nil {
		return p.abandon(ctx, id, fmt.Errorf("begin transaction for message %s: %w", id, err))
	}
	token := time.Now().UnixMilli()
	if err := tx.Exec(ctx, insert(p.cfg.Dialect, p.cfg.Table), id, outcomeCommitted, token); err != nil {
		_ = tx.Rollback()
		return p.taken(ctx, id, err)
	}
	panicked := true
	defer func() {
		if panicked {
			_ = tx.Rollback()
			_ = p.abandon(ctx, id, errors.New("business function panicked"))
		}
	}()
	berr := business(ctx)
	panicked = false
	if berr != nil {
		_ = tx.Rollback()
		_ = p.abandon(ctx, id, berr)
		return berr
	}
	// A database may have rolled the transaction back under a statement
	// error the business ignored (InnoDB on a deadlock); the statements
	// after it then ran on their own and COMMIT has nothing to commit.
	// The transaction's own barrier row is the proof that it is still one.
	var outcome string
	var created int64
	if err := tx.QueryRow(ctx, selectRow(p.cfg.Dialect, p.cfg.Table), id).Scan(&outcome, &created); err != nil || outcome != outcomeCommitted || created != token {
		_ = tx.Rollback()
		if err == nil {
			err = errors.New("its barrier row is gone: the database rolled it back under an error the business function ignored")
		}
		return p.abandon(ctx, id, fmt.Errorf("message %s: %w", id, err))
	}
	if cerr := tx.Commit(); cerr != nil {
		return p.afterFailedCommit(ctx, id, token, cerr)
	}
	return p.confirm(ctx, id)
}

// taken handles a barrier row that could not be written: the message's
// transaction is decided already (a retry, a check-back, another call with
// the id), or the write failed.
func (p *Producer) taken(ctx context.Context, id string, ierr error) error {
	var outcome string
	var err error
	if deadlock(ierr) {
		// The write lost a deadlock to a transaction deciding the same id
		// (a rollback and its settling check-back, seen on MySQL), which may
		// not have committed yet: wait for its decision as a check-back
		// does, rather than read a row that is not there yet.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.CheckWait)
		var status string
		status, err = p.Check(sctx, id)
		cancel()
		outcome = checkOutcomes[status]
	} else {
		outcome, _, err = p.barrier(ctx, id)
	}
	switch {
	case err == nil && outcome == outcomeRolledBack:
		p.cancel(ctx, id, "barrier row says rolled back")
		return fmt.Errorf("%w (message %s)", ErrCheckedBack, id)
	case err == nil && outcome == outcomeCommitted:
		// An earlier call committed; its confirm may have been lost.
		if cerr := p.confirm(ctx, id); cerr != nil {
			return cerr
		}
		return fmt.Errorf("%w (message %s)", ErrAlreadyCommitted, id)
	}
	return p.abandon(ctx, id, fmt.Errorf("write barrier row for message %s: %w", id, ierr))
}

// checkOutcomes maps Check's answers to the barrier row's outcomes.
var checkOutcomes = map[string]string{"COMMITTED": outcomeCommitted, "ROLLED_BACK": outcomeRolledBack}

// abandon settles message id after its transaction did not commit and
// returns cause as Transaction's error: ErrRolledBack wrapping it once the
// barrier row says rolled back and the message is cancelled. If another
// transaction with the id committed meanwhile, nothing is cancelled; if the
// barrier cannot be read, the check-back settles the message later.
func (p *Producer) abandon(ctx context.Context, id string, cause error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.CheckWait)
	defer cancel()
	status, err := p.Check(sctx, id)
	if err != nil {
		p.cfg.Logger.Warn("courier: could not settle a transaction that did not commit; the check-back will cancel the message", "id", id, "error", err)
		return fmt.Errorf("%w: %w", ErrRolledBack, cause)
	}
	if status == "ROLLED_BACK" {
		p.cancel(ctx, id, "transaction rolled back")
	}
	return fmt.Errorf("%w: %w", ErrRolledBack, cause)
}

// afterFailedCommit finds out from the barrier row whether a COMMIT that
// failed happened: token tells this transaction's row from another's.
func (p *Producer) afterFailedCommit(ctx context.Context, id string, token int64, cerr error) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.CheckWait)
	defer cancel()
	if _, err := p.Check(sctx, id); err != nil {
		return fmt.Errorf("%w: message %s: %w", ErrCommitUnknown, id, errors.Join(cerr, err))
	}
	outcome, created, err := p.barrier(sctx, id)
	switch {
	case err != nil:
		return fmt.Errorf("%w: message %s: %w", ErrCommitUnknown, id, errors.Join(cerr, err))
	case outcome == outcomeCommitted && created == token:
		return p.confirm(ctx, id)
	case outcome == outcomeRolledBack:
		p.cancel(ctx, id, "commit failed")
	}
	return fmt.Errorf("%w: message %s: commit: %w", ErrRolledBack, id, cerr)
}

// confirm tells Courier the message's transaction committed. A confirm
// that fails is logged: the check-back confirms the message instead. One
// that is refused (an operator cancelled the message by hand) is returned:
// the transaction committed but the message will not be sent.
func (p *Producer) confirm(ctx context.Context, id string) error {
	_, err := p.courier.Confirm(context.WithoutCancel(ctx), id, "")
	switch {
	case err == nil:
		return nil
	case errors.Is(err, client.ErrConflict):
		return fmt.Errorf("producer: the transaction of message %s committed, but Courier refused its confirm: %w", id, err)
	}
	p.cfg.Logger.Warn("courier: confirm after commit failed; the check-back will confirm the message", "id", id, "error", err)
	return nil
}

// cancel tells Courier the message's transaction rolled back. It is a
// shortcut: without it the check-back finds the same, later.
func (p *Producer) cancel(ctx context.Context, id, reason string) {
	if _, err := p.courier.Cancel(context.WithoutCancel(ctx), id, reason); err != nil && !errors.Is(err, client.ErrConflict) {
		p.cfg.Logger.Warn("courier: cancel failed; the check-back will cancel the message", "id", id, "error", err)
	}
}

// barrier reads message id's barrier row.
func (p *Producer) barrier(ctx context.Context, id string) (outcome string, created int64, err error) {
	err = p.db.QueryRowContext(ctx, selectRow(p.cfg.Dialect, p.cfg.Table), id).Scan(&outcome, &created)
	return outcome, created, err
}
