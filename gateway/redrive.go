package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
)

// Bulk re-drive limits: how many DEAD messages one request examines.
const (
	defaultRedriveLimit = 100
	maxRedriveLimit     = 1000
	redrivePageSize     = 100
)

// redriveRequest is the body of POST /v1/messages/redrive.
type redriveRequest struct {
	Topic  string `json:"topic"`
	Limit  *int   `json:"limit"`
	Reason string `json:"reason"`
}

// redriveResponse reports a bulk re-drive. Messages that were no longer DEAD
// when their turn came are neither redriven nor failed.
type redriveResponse struct {
	Redriven int             `json:"redriven"`
	Failed   []redriveFailed `json:"failed"`
}

// redriveFailed is one message the bulk re-drive could not signal.
type redriveFailed struct {
	ID    string      `json:"id"`
	Error errorDetail `json:"error"`
}

// redriveDead handles POST /v1/messages/redrive: it walks the mirror's DEAD
// messages of a topic, oldest listing order first, and re-drives each one
// through the same decision as POST /v1/messages/{id}/redrive.
func (s *Server) redriveDead(c echo.Context) error {
	body, err := requestBody(c.Request(), maxSmallBody)
	if err != nil {
		return err
	}
	var req redriveRequest
	if err := decodeStrict(body, &req, false); err != nil {
		return err
	}
	var errs []error
	if req.Topic == "" {
		errs = append(errs, errors.New("topic is required"))
	} else if err := models.CheckTopic(req.Topic); err != nil {
		errs = append(errs, err)
	}
	limit := defaultRedriveLimit
	if req.Limit != nil {
		limit = *req.Limit
		if limit < 1 || limit > maxRedriveLimit {
			errs = append(errs, fmt.Errorf("limit must be between 1 and %d, got %d", maxRedriveLimit, limit))
		}
	}
	if utf8.RuneCountInString(req.Reason) > models.MaxReasonLen {
		errs = append(errs, fmt.Errorf("reason is longer than %d characters", models.MaxReasonLen))
	}
	if err := errors.Join(errs...); err != nil {
		return invalid("%s", joinLines(err))
	}

	ctx := c.Request().Context()
	resp := redriveResponse{Failed: []redriveFailed{}}
	entry := models.AuditEntry{By: caller(c).Name, Action: models.Redrive, Topic: req.Topic, Reason: req.Reason}
	filter := store.Filter{Status: models.StatusDead, Topic: req.Topic}
	for seen := 0; seen < limit; {
		filter.Limit = min(redrivePageSize, limit-seen)
		page, err := s.store.List(ctx, filter)
		if err != nil {
			return unavailable("the message mirror", err)
		}
		for _, m := range page.Messages {
			seen++
			a, err := s.ask(ctx, m.ID, contract.Request{Action: models.Redrive, By: caller(c).Name, Reason: req.Reason})
			switch {
			case err != nil:
				ae := classify(err)
				resp.Failed = append(resp.Failed, redriveFailed{ID: m.ID, Error: errorDetail{Code: ae.code, Message: ae.msg}})
				entry.Outcomes = append(entry.Outcomes, models.AuditOutcome{ID: m.ID, Disposition: "failed", Detail: ae.msg})
				continue
			case a.Disposition == models.Applied:
				resp.Redriven++
			}
			entry.Outcomes = append(entry.Outcomes, models.AuditOutcome{ID: m.ID, Disposition: a.Disposition, Status: a.Status, Detail: a.Reason})
		}
		if page.NextCursor == "" {
			break
		}
		filter.Cursor = page.NextCursor
	}
	s.audit(ctx, entry)
	s.logger.Info("bulk re-drive", "topic", req.Topic, "redriven", resp.Redriven, "failed", len(resp.Failed), "by", caller(c).Name)
	return c.JSON(http.StatusOK, resp)
}
