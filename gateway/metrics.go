package gateway

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// metrics are the gateway's Prometheus metrics.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	signals  *prometheus.CounterVec
	refused  *prometheus.CounterVec
}

// unmatchedRoute labels requests that matched no route, so that probing
// random paths cannot grow the label set.
const unmatchedRoute = "unmatched"

// consoleRoute labels every request of the operator console.
const consoleRoute = "/console"

// throttledRequests is the name of the counter of key checks the throttle
// refused, labelled by what was over its limit: address or identity.
const throttledRequests = "courier_gateway_throttled_requests_total"

func newMetrics(reg *prometheus.Registry, throttle *access.Throttle) (*metrics, error) {
	if reg == nil {
		reg = prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	m := &metrics{
		registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "courier_gateway_requests_total",
			Help: "HTTP requests answered, by route template, method and status code.",
		}, []string{"route", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "courier_gateway_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		signals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "courier_gateway_signals_total",
			Help: "Signal requests (confirm, cancel, complete, redrive) by outcome: applied, repeated, rejected or failed.",
		}, []string{"signal", "outcome"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "courier_gateway_refused_requests_total",
			Help: "Requests refused by access control, by reason: no_key, bad_key, role, topic, owner or identity.",
		}, []string{"reason"}),
	}
	for _, r := range []access.Reason{access.NoKey, access.BadKey, access.NoRole, access.NoTopic, access.NotOwner, access.OtherName} {
		m.refused.WithLabelValues(string(r)) // every reason is exported from the start, at 0
	}
	all := []prometheus.Collector{m.requests, m.latency, m.signals, m.refused}
	// The throttle counts for the API and the console alike; the metric
	// reads its counts.
	for _, scope := range access.Scopes {
		all = append(all, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        throttledRequests,
			Help:        "Key checks refused with 429 because the client address or the identity had too many refused keys in the last minute, by what: address or identity. Counted by this gateway process.",
			ConstLabels: prometheus.Labels{"what": string(scope)},
		}, func() float64 { return float64(throttle.Refused(scope)) }))
	}
	for _, c := range all {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register gateway metrics: %w", err)
		}
	}
	return m, nil
}

// handler serves the registry.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// signal counts one message's answer to action: models.Failed when its
// workflow could not be asked.
func (m *metrics) signal(action models.Action, d wire.Outcome) {
	m.signals.WithLabelValues(string(action), string(d)).Inc()
}

// observe is the outermost middleware: it has the error handler write any
// error, then counts the request with its final status.
func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := unmatchedRoute
		method := c.Request().Method
		switch {
		case s.served(method, c.Path()):
			route = c.Path()
		case strings.HasPrefix(c.Request().URL.Path, "/console"):
			route = consoleRoute
		default:
			method = "other"
		}
		s.metrics.requests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status)).Inc()
		s.metrics.latency.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		return nil
	}
}

// served reports whether method and the echo path template are a route.
func (s *Server) served(method, path string) bool {
	p := openAPIPath(path)
	for _, r := range s.routes {
		if r.Method == method && r.Path == p {
			return true
		}
	}
	return false
}
