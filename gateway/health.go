package gateway

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// readyTimeout bounds each readiness check.
const readyTimeout = 2 * time.Second

// healthResponse answers /healthz and a passing /readyz.
type healthResponse struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks,omitempty"`
}

// healthz handles GET /healthz: the process is up and serving.
func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, healthResponse{Status: "ok"})
}

// readyz handles GET /readyz: Temporal, the mirror database and (when a probe
// is configured) Kafka all answer. A failure is 503 naming the failed
// dependencies; their errors go to the log only, since /readyz is open.
func (s *Server) readyz(c echo.Context) error {
	checks := map[string]func(context.Context) error{
		"temporal": s.messages.CheckHealth,
		"mirror":   s.store.Ping,
	}
	if s.kafka != nil {
		checks["kafka"] = s.kafka
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var failed []string
	var errs []error
	for name, check := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(c.Request().Context(), readyTimeout)
			defer cancel()
			if err := check(ctx); err != nil {
				mu.Lock()
				defer mu.Unlock()
				failed = append(failed, name)
				errs = append(errs, errors.New(name+": "+err.Error()))
			}
		})
	}
	wg.Wait()
	if len(failed) > 0 {
		sort.Strings(failed)
		return &apiError{
			status: http.StatusServiceUnavailable,
			code:   codeUnavailable,
			msg:    "not ready: " + strings.Join(failed, ", ") + " failed",
			cause:  errors.Join(errs...),
		}
	}
	resp := healthResponse{Status: "ready", Checks: map[string]string{}}
	for name := range checks {
		resp.Checks[name] = "ok"
	}
	return c.JSON(http.StatusOK, resp)
}
