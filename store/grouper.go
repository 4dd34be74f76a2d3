package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/courier-mq/courier/models"
)

// Grouping bounds of a Grouper.
const (
	// groupMax is the most writes one transaction carries.
	groupMax = 64
	// groupLinger is how long a batch gathers writes, from its first
	// write's arrival: on MariaDB here, writes taken without waiting shared
	// a transaction a third of the time and gained nothing measurable; with
	// 2 ms, four in five (docs/performance.md).
	groupLinger = 2 * time.Millisecond
	// groupsInFlight is how many transactions run at once: a batch held up
	// (a lock, a connection gone quiet in an outage) leaves the others
	// going, and while they all run the next batch gathers.
	groupsInFlight = 2
	// groupDeadline bounds a batch whose writes have no deadline of their
	// own.
	groupDeadline = 10 * time.Second
)

// ErrGrouperClosed is the error of a write given to a Grouper after Close.
var ErrGrouperClosed = errors.New("mirror writes are shutting down")

// Grouper runs the mirror writes of many messages (Insert, Apply) in shared
// transactions: on a database that makes every commit durable on disk
// (MySQL's InnoDB by default), one commit for a batch instead of one per
// write. A batch gathers the writes that arrive within groupLinger of its
// first (up to groupMax), and more while every transaction is busy: a write
// waits at most that long for company.
//
// Each write keeps the result it would have had alone: a batch commits only
// when every write in it succeeded, and otherwise is rolled back and each of
// its writes run again alone, so one failing write (or a deadlock, or a
// failed commit) costs the others nothing but the repeat. A batch ends by
// the earliest deadline among its writes; a write whose own context ends
// first returns at once, and whatever the batch did for it is applied again
// by its retry, as Insert and Apply allow. It is safe for concurrent use.
type Grouper struct {
	store *Store
	jobs  chan *job
	// slots holds a token per transaction in flight.
	slots chan struct{}

	mu     sync.RWMutex
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup

	// shared counts the transactions that committed several writes, and
	// sharedWrites the writes they carried.
	shared, sharedWrites atomic.Int64
}

// job is one write and where its result goes.
type job struct {
	ctx  context.Context
	run  func(db *gorm.DB) (bool, error)
	done chan result
}

type result struct {
	ok  bool
	err error
}

// NewGrouper starts grouping s's mirror writes; Close stops it.
func NewGrouper(s *Store) *Grouper {
	g := &Grouper{
		store: s,
		jobs:  make(chan *job, groupMax*groupsInFlight),
		slots: make(chan struct{}, groupsInFlight),
		done:  make(chan struct{}),
	}
	g.wg.Add(1)
	go g.gather()
	return g
}

// Groups reports whether grouping s's mirror writes pays: on a database
// whose every commit waits for the disk. SQLite's one writer gains nothing.
func (s *Store) Groups() bool { return s.dialect.groupsWrites() }

// Insert is Store.Insert, run in a shared transaction.
func (g *Grouper) Insert(ctx context.Context, m *models.Message) (created bool, err error) {
	return g.do(ctx, func(db *gorm.DB) (bool, error) { return insert(db, m) })
}

// Apply is Store.Apply, run in a shared transaction.
func (g *Grouper) Apply(ctx context.Context, t models.Transition) (applied bool, err error) {
	return g.do(ctx, func(db *gorm.DB) (bool, error) { return apply(db, t) })
}

// Shared is how many transactions committed several writes, and how many
// writes they carried.
func (g *Grouper) Shared() (transactions, writes int64) {
	return g.shared.Load(), g.sharedWrites.Load()
}

// Close stops taking writes and waits for those taken to end.
func (g *Grouper) Close() {
	g.mu.Lock()
	if !g.closed {
		g.closed = true
		close(g.done)
	}
	g.mu.Unlock()
	g.wg.Wait()
}

func (g *Grouper) do(ctx context.Context, run func(db *gorm.DB) (bool, error)) (bool, error) {
	j := &job{ctx: ctx, run: run, done: make(chan result, 1)}
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false, ErrGrouperClosed
	}
	select {
	case g.jobs <- j:
		g.mu.RUnlock()
	case <-ctx.Done():
		g.mu.RUnlock()
		return false, ctx.Err()
	}
	select {
	case r := <-j.done:
		return r.ok, r.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// gather takes a write, a free transaction, and the writes that arrive
// until groupLinger after the first (at most groupMax), and runs them; after
// Close it runs what is queued and returns.
func (g *Grouper) gather() {
	defer g.wg.Done()
	for {
		var first *job
		select {
		case first = <-g.jobs:
		case <-g.done:
			// No write can be queued any more (do checks closed under
			// the lock Close takes): run what is left.
			for {
				select {
				case j := <-g.jobs:
					g.slots <- struct{}{}
					g.wg.Add(1)
					go g.flush([]*job{j})
				default:
					return
				}
			}
		}
		linger := time.NewTimer(groupLinger)
		g.slots <- struct{}{}
		batch := []*job{first}
	drain:
		for len(batch) < groupMax {
			// What is queued goes first, however long the wait for a
			// transaction was; then the linger's rest.
			select {
			case j := <-g.jobs:
				batch = append(batch, j)
				continue
			default:
			}
			select {
			case j := <-g.jobs:
				batch = append(batch, j)
			case <-linger.C:
				break drain
			}
		}
		linger.Stop()
		g.wg.Add(1)
		go g.flush(batch)
	}
}

// flush runs batch in one transaction and hands each write its result, or
// when any of them fails, runs each alone.
func (g *Grouper) flush(batch []*job) {
	defer g.wg.Done()
	defer func() { <-g.slots }()
	live := batch[:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- result{err: err} // its caller has gone
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	if len(live) == 1 {
		g.alone(live[0])
		return
	}
	ctx, cancel := batchContext(live)
	defer cancel()
	deadline, _ := ctx.Deadline()
	bound, restore := g.store.dialect.lockWait(time.Until(deadline))
	results := make([]result, len(live))
	err := g.store.prepared.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if bound != "" {
			if err := tx.Exec(bound).Error; err != nil {
				return fmt.Errorf("bound the lock wait: %w", err)
			}
			// The connection goes back to the pool after the transaction.
			defer tx.Exec(restore)
		}
		table := tx.Model(&messageRow{}).Session(&gorm.Session{})
		for i, j := range live {
			ok, err := j.run(table)
			if err != nil {
				return fmt.Errorf("write %d of %d: %w", i+1, len(live), err)
			}
			results[i] = result{ok: ok}
		}
		return nil
	})
	if err != nil {
		// Side by side, so that a write held up again holds up no other.
		var each sync.WaitGroup
		for _, j := range live {
			each.Go(func() { g.alone(j) })
		}
		each.Wait()
		return
	}
	g.shared.Add(1)
	g.sharedWrites.Add(int64(len(live)))
	for i, j := range live {
		j.done <- results[i]
	}
}

// alone runs j by itself, outside any transaction, as Store would.
func (g *Grouper) alone(j *job) {
	ok, err := j.run(g.store.writes(j.ctx))
	j.done <- result{ok: ok, err: err}
}

// batchContext ends at the earliest deadline among batch's writes (or
// groupDeadline from now when none has one), and not when one of their
// callers gives up: that one's result is simply not read.
func batchContext(batch []*job) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(groupDeadline)
	for _, j := range batch {
		if d, ok := j.ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
	}
	return context.WithDeadline(context.Background(), deadline)
}
