package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// Store reads and writes the messages table. It is safe for concurrent use.
type Store struct {
	db *gorm.DB
	// prepared runs the mirror writes (Insert, Apply), a few statements
	// made for every message, as statements prepared once per connection:
	// a database parses each once rather than at every write.
	prepared *gorm.DB
	driver   string
	dialect  dialect
}

// ErrPermanent is wrapped by an Open error that retrying cannot fix, such as
// wrong credentials or a missing database; any other Open error may go away
// once the database is up.
var ErrPermanent = errors.New("retrying cannot fix this")

// Open connects to the database cfg names and checks that it answers. It does
// not create the schema; call Migrate for that.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	d := dialects[cfg.Driver]
	sqlDB, dialector, err := d.open(cfg.DSN, cfg.MaxOpenConns)
	if err != nil {
		return nil, err
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		if d.permanent(err) {
			err = fmt.Errorf("%w (%w)", err, ErrPermanent)
		}
		return nil, fmt.Errorf("open %s store: ping: %w", cfg.Driver, err)
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		// Every write is a single statement; a wrapping transaction adds round trips only.
		SkipDefaultTransaction: true,
		// The store returns its errors; callers decide what to log.
		Logger:  logger.Discard,
		NowFunc: func() time.Time { return dbTime(time.Now()) },
		// Bounds the prepared statements of Store.prepared, which has a
		// handful of shapes; the bound only guards against a new one per call.
		PrepareStmtMaxSize: 32,
	})
	if err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open %s store: %w", cfg.Driver, err)
	}
	return &Store{db: db, prepared: db.Session(&gorm.Session{PrepareStmt: true}), driver: cfg.Driver, dialect: d}, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("ping %s store: %w", s.driver, err)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s store: %w", s.driver, err)
	}
	return nil
}

// Close closes the connection pool.
func (s *Store) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return fmt.Errorf("close %s store: %w", s.driver, err)
	}
	if err := sqlDB.Close(); err != nil {
		return fmt.Errorf("close %s store: %w", s.driver, err)
	}
	return nil
}

// messages is a query on the messages table.
func (s *Store) messages(ctx context.Context) *gorm.DB {
	return s.db.WithContext(ctx).Model(&messageRow{})
}

// writes is messages for the mirror writes, with prepared statements.
func (s *Store) writes(ctx context.Context) *gorm.DB {
	return s.prepared.WithContext(ctx).Model(&messageRow{})
}

// DB is the underlying GORM handle, for tests and operational tooling.
func (s *Store) DB() *gorm.DB { return s.db }

// Insert writes m as a new row unless a row with m.ID exists already, in which
// case the stored row is left untouched and created is false. Times are stored
// in UTC at millisecond precision; m itself is not modified. ID, CreatedAt and
// UpdatedAt are required. Any other failure, such as a value too long for its
// column, is returned as an error.
func (s *Store) Insert(ctx context.Context, m *models.Message) (created bool, err error) {
	return insert(s.writes(ctx), m)
}

// insert is Insert on db, a query on the messages table alone or in a
// transaction.
func insert(db *gorm.DB, m *models.Message) (created bool, err error) {
	if m.ID == "" || m.CreatedAt.IsZero() || m.UpdatedAt.IsZero() {
		return false, fmt.Errorf("insert message %q: id, created_at and updated_at are required", m.ID)
	}
	row := messageRow(*m)
	normaliseMessage((*models.Message)(&row))
	row.LastError = errorText(row.LastError)
	// On MySQL GORM renders this as ON DUPLICATE KEY UPDATE id=id, which ignores
	// only the duplicate key; unlike INSERT IGNORE it keeps every other error.
	res := db.
		Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoNothing: true}).
		Create(&row)
	if res.Error != nil {
		return false, fmt.Errorf("insert message %s: %w", m.ID, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// Apply writes the mutable fields of t to its row if t supersedes what the
// row holds (models.RevisionTaskShift says when). t is a full snapshot of
// those fields: a nil time clears the stored one. status_at becomes
// t.UpdatedAt when t changes the status, and stays otherwise. applied is false when the
// row is already at t or past it, so retried and reordered writes never move
// a message backwards. models.ErrNotFound means the row does not exist (yet).
func (s *Store) Apply(ctx context.Context, t models.Transition) (applied bool, err error) {
	return apply(s.writes(ctx), t)
}

// apply is Apply on db, a query on the messages table alone or in a
// transaction.
func apply(db *gorm.DB, t models.Transition) (applied bool, err error) {
	if t.ID == "" || t.UpdatedAt.IsZero() {
		return false, fmt.Errorf("apply revision %d to message %q: id and updated_at are required", t.Revision, t.ID)
	}
	at := dbTime(t.UpdatedAt)
	q := db.Session(&gorm.Session{}).Where("id = ?", t.ID)
	if lo, hi := models.RevisionTaskRange(t.Revision); lo == 0 {
		q = q.Where("revision < ?", t.Revision)
	} else {
		q = q.Where("(revision < ? OR (revision < ? AND (updated_at < ? OR (updated_at = ? AND revision < ?))))",
			lo, hi, at, at, t.Revision)
	}
	// status_at moves only when the status changes. It comes first: MySQL
	// assigns left to right, so a later status_at would see the new status.
	set := clause.Set{
		{Column: clause.Column{Name: "status_at"}, Value: gorm.Expr("CASE WHEN status = ? AND status_at IS NOT NULL THEN status_at ELSE ? END", t.Status, at)},
		{Column: clause.Column{Name: "status"}, Value: t.Status},
		{Column: clause.Column{Name: "check_count"}, Value: t.CheckCount},
		{Column: clause.Column{Name: "send_count"}, Value: t.SendCount},
		{Column: clause.Column{Name: "last_error"}, Value: errorText(t.LastError)},
		{Column: clause.Column{Name: "confirmed_at"}, Value: dbTimePtr(t.ConfirmedAt)},
		{Column: clause.Column{Name: "published_at"}, Value: dbTimePtr(t.PublishedAt)},
		{Column: clause.Column{Name: "completed_at"}, Value: dbTimePtr(t.CompletedAt)},
		{Column: clause.Column{Name: "updated_at"}, Value: at},
		{Column: clause.Column{Name: "revision"}, Value: t.Revision},
	}
	res := q.Clauses(set).UpdateColumns(map[string]any{})
	if res.Error != nil {
		return false, fmt.Errorf("apply revision %d to message %s: %w", t.Revision, t.ID, res.Error)
	}
	if res.RowsAffected > 0 {
		return true, nil
	}
	// Nothing matched: either the row is missing or it is at t or past it, or
	// it was inserted after the update looked: then t still supersedes it,
	// and calling "stale" a write that was never applied would leave the row
	// behind for good.
	var stored messageRow
	err = db.Session(&gorm.Session{}).Select("revision", "updated_at").Where("id = ?", t.ID).Take(&stored).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return false, fmt.Errorf("apply revision %d to message %s: %w", t.Revision, t.ID, models.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("apply revision %d to message %s: look up row: %w", t.Revision, t.ID, err)
	}
	if supersedes(t.Revision, at, stored.Revision, stored.UpdatedAt) {
		return false, fmt.Errorf("apply revision %d to message %s: the row appeared at revision %d during the write; retry", t.Revision, t.ID, stored.Revision)
	}
	return false, nil
}

// supersedes is Apply's condition in Go: whether a write of revision rev at
// time at supersedes a row stored at revision storedRev and time storedAt.
func supersedes(rev int64, at time.Time, storedRev int64, storedAt time.Time) bool {
	lo, hi := models.RevisionTaskRange(rev)
	if lo == 0 || storedRev < lo {
		return storedRev < rev
	}
	return storedRev < hi && (storedAt.Before(at) || storedAt.Equal(at) && storedRev < rev)
}

// Get returns the row of message id, or models.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*models.Message, error) {
	var row messageRow
	err := s.messages(ctx).Where("id = ?", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("get message %s: %w", id, models.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get message %s: %w", id, err)
	}
	m := models.Message(row)
	normaliseMessage(&m)
	return &m, nil
}

// CountByStatus counts the messages in each status. Every known status is in
// the map, with 0 when no message has it, so gauges can report zeros.
func (s *Store) CountByStatus(ctx context.Context) (map[wire.Status]int64, error) {
	var rows []struct {
		Status wire.Status
		N      int64
	}
	err := s.messages(ctx).
		Select("status, COUNT(*) AS n").Group("status").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("count messages by status: %w", err)
	}
	counts := make(map[wire.Status]int64, len(wire.Statuses))
	for _, st := range wire.Statuses {
		counts[st] = 0
	}
	for _, r := range rows {
		counts[r.Status] = r.N
	}
	return counts, nil
}
