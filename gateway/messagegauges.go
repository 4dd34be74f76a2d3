package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/store"
)

// messageGauges report the mirror's messages by status, and the
// WAITING_CONFIRM ones past their first check-back: what an operator alerts
// on (DEAD and CHECK_EXHAUSTED above zero, waiting messages piling up). They
// are read from the mirror when scraped, at most every cacheFor, so that
// several scrapers cost one query.
type messageGauges struct {
	store      *store.Store
	firstCheck time.Duration
	logger     *slog.Logger

	byStatus *prometheus.Desc
	overdue  *prometheus.Desc

	mu      sync.Mutex
	at      time.Time
	counts  map[wire.Status]int64
	waiting int64
}

const (
	gaugeCacheFor = 15 * time.Second
	gaugeTimeout  = 5 * time.Second
)

func newMessageGauges(s *store.Store, firstCheck time.Duration, logger *slog.Logger) *messageGauges {
	return &messageGauges{
		store:      s,
		firstCheck: firstCheck,
		logger:     logger,
		byStatus:   prometheus.NewDesc("courier_messages", "Messages in the mirror by status.", []string{"status"}, nil),
		overdue:    prometheus.NewDesc("courier_messages_waiting_past_first_check", "WAITING_CONFIRM messages older than the first check-back: producers that neither confirm nor cancel.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (g *messageGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.byStatus
	ch <- g.overdue
}

// Collect implements prometheus.Collector. When the mirror does not answer,
// the gauges are left out of the scrape rather than reported as zero.
func (g *messageGauges) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.at) > gaugeCacheFor {
		ctx, cancel := context.WithTimeout(context.Background(), gaugeTimeout)
		defer cancel()
		counts, err := g.store.CountByStatus(ctx)
		var waiting int64
		if err == nil {
			waiting, err = g.store.CountStatusBefore(ctx, wire.StatusWaitingConfirm, time.Now().Add(-g.firstCheck))
		}
		if err != nil {
			g.logger.Warn("message gauges: the mirror did not answer", "error", err)
			return
		}
		g.at, g.counts, g.waiting = time.Now(), counts, waiting
	}
	for st, n := range g.counts {
		ch <- prometheus.MustNewConstMetric(g.byStatus, prometheus.GaugeValue, float64(n), string(st))
	}
	ch <- prometheus.MustNewConstMetric(g.overdue, prometheus.GaugeValue, float64(g.waiting))
}
