package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"gorm.io/gorm/clause"

	"github.com/courier-mq/courier/client/wire"
)

// Flow is what happened to messages in one minute.
type Flow struct {
	// Prepared counts the messages created (prepared or sent) in the
	// minute, Published those first published and Completed those
	// completed in it.
	Prepared, Published, Completed int64
	// Dead counts the messages that went DEAD in the minute and were still
	// DEAD when counted: a re-driven message leaves DEAD, and its row keeps
	// no history of having been there.
	Dead int64
}

// Backlog are the statuses of the messages Courier or an operator still has
// to deal with: every status but the terminal ones, in lifecycle order.
var Backlog = slices.DeleteFunc(slices.Clone(wire.Statuses), wire.Status.Terminal)

// The series a sample holds besides the backlog's statuses (whose names are
// upper case, so the two never meet).
const (
	seriesPrepared  = "prepared"
	seriesPublished = "published"
	seriesCompleted = "completed"
	seriesDead      = "dead"
)

// TrendRetention is how long SampleMinute keeps samples: the overview shows
// a day.
const TrendRetention = 48 * time.Hour

// flowQueries are how FlowsPerMinute and SampleMinute count each series:
// each is one range of an index (migrations 1, 2 and 3), so the cost grows
// with the rows in the window, not with the table.
var flowQueries = []struct {
	series, col string
	status      wire.Status
	field       func(*Flow) *int64
}{
	{seriesPrepared, "created_at", "", func(f *Flow) *int64 { return &f.Prepared }},
	{seriesPublished, "published_at", "", func(f *Flow) *int64 { return &f.Published }},
	{seriesCompleted, "completed_at", "", func(f *Flow) *int64 { return &f.Completed }},
	{seriesDead, "updated_at", wire.StatusDead, func(f *Flow) *int64 { return &f.Dead }},
}

// FlowsPerMinute counts the flows of each of n minutes from the minute of
// from, read from the messages' own times: element i is the minute from +
// i minutes (UTC, truncated to the minute). It is four grouped range
// queries, one per series.
func (s *Store) FlowsPerMinute(ctx context.Context, from time.Time, n int) ([]Flow, error) {
	start := from.UTC().Truncate(time.Minute)
	end := start.Add(time.Duration(n) * time.Minute)
	flows := make([]Flow, n)
	for _, fq := range flowQueries {
		var rows []struct{ M, N int64 }
		q := s.messages(ctx).Select(s.dialect.minutesSince(fq.col)+" AS m, COUNT(*) AS n", start).
			Where(fq.col+" >= ? AND "+fq.col+" < ?", start, end)
		if fq.status != "" {
			q = q.Where("status = ?", fq.status)
		}
		if err := q.Group("m").Scan(&rows).Error; err != nil {
			return nil, fmt.Errorf("count %s messages per minute: %w", fq.series, err)
		}
		for _, r := range rows {
			if r.M >= 0 && r.M < int64(n) {
				*fq.field(&flows[r.M]) = r.N
			}
		}
	}
	return flows, nil
}

// trendRow is one series of one minute's sample.
type trendRow struct {
	Minute time.Time
	Series string
	N      int64
}

// TableName implements GORM's schema.Tabler.
func (trendRow) TableName() string { return trendsTable }

// SampleMinute records the minute of t (UTC, truncated): its flows, and the
// backlog by status as it is now, which the messages table forgets as
// messages move on. Call it once the minute is over. Only the first call
// for a minute writes (insert-if-absent on the minute's key), so every
// gateway may sample and the minute is written once; written says whether
// this call did. It also deletes the samples older than TrendRetention.
//
// Its cost is the flow queries over one minute's rows plus one count of the
// backlog's rows by status, on the (status, created_at) index: it grows
// with the backlog, not with the settled messages.
func (s *Store) SampleMinute(ctx context.Context, t time.Time) (written bool, err error) {
	minute := t.UTC().Truncate(time.Minute)
	flows, err := s.FlowsPerMinute(ctx, minute, 1)
	if err != nil {
		return false, fmt.Errorf("sample minute %s: %w", minute.Format(time.RFC3339), err)
	}
	var backlog []struct {
		Status wire.Status
		N      int64
	}
	err = s.messages(ctx).Select("status, COUNT(*) AS n").Where("status IN ?", Backlog).Group("status").Scan(&backlog).Error
	if err != nil {
		return false, fmt.Errorf("sample minute %s: count the backlog: %w", minute.Format(time.RFC3339), err)
	}
	rows := make([]trendRow, 0, len(flowQueries)+len(Backlog))
	for _, fq := range flowQueries {
		rows = append(rows, trendRow{minute, fq.series, *fq.field(&flows[0])})
	}
	for _, st := range Backlog {
		row := trendRow{Minute: minute, Series: string(st)}
		for _, b := range backlog {
			if b.Status == st {
				row.N = b.N
			}
		}
		rows = append(rows, row)
	}
	// One statement: a minute's sample is all there or not at all.
	res := s.db.WithContext(ctx).
		Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "minute"}, {Name: "series"}}, DoNothing: true}).
		Create(&rows)
	if res.Error != nil {
		return false, fmt.Errorf("sample minute %s: %w", minute.Format(time.RFC3339), res.Error)
	}
	err = s.db.WithContext(ctx).Where("minute < ?", minute.Add(-TrendRetention)).Delete(&trendRow{}).Error
	if err != nil {
		return res.RowsAffected > 0, fmt.Errorf("delete trend samples older than %s: %w", TrendRetention, err)
	}
	return res.RowsAffected > 0, nil
}

// Sample is one minute's record by SampleMinute.
type Sample struct {
	Flow
	// Backlog is the messages in each status of Backlog when the minute
	// was sampled, just after it ended.
	Backlog map[wire.Status]int64
}

// Samples reads the samples of n minutes from the minute of from: element
// i is the minute from + i minutes, nil when no sampler recorded it (no
// gateway ran then), which is a gap, not zeros.
func (s *Store) Samples(ctx context.Context, from time.Time, n int) ([]*Sample, error) {
	start := from.UTC().Truncate(time.Minute)
	var rows []trendRow
	err := s.db.WithContext(ctx).Where("minute >= ? AND minute < ?", start, start.Add(time.Duration(n)*time.Minute)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("read trend samples: %w", err)
	}
	out := make([]*Sample, n)
	for _, r := range rows {
		i := int(r.Minute.UTC().Sub(start) / time.Minute)
		if i < 0 || i >= n {
			continue
		}
		if out[i] == nil {
			out[i] = &Sample{Backlog: make(map[wire.Status]int64, len(Backlog))}
		}
		sm := out[i]
		switch r.Series {
		case seriesPrepared:
			sm.Prepared = r.N
		case seriesPublished:
			sm.Published = r.N
		case seriesCompleted:
			sm.Completed = r.N
		case seriesDead:
			sm.Dead = r.N
		default:
			sm.Backlog[wire.Status(r.Series)] = r.N
		}
	}
	return out, nil
}
