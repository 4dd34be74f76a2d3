package producer

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/courier-mq/courier/client/internal/tracecontext"
)

// checkRequest is the body of Courier's check-back call.
type checkRequest struct {
	MessageID string `json:"message_id"`
}

// checkAnswer is the body of the answer.
type checkAnswer struct {
	Status string `json:"status"`
	// Detail explains an UNKNOWN, for people reading Courier's state.
	Detail string `json:"detail,omitempty"`
}

// CheckHandler answers Courier's check-back calls (POST, JSON body with
// message_id) from the barrier table, as the package doc says. Mount it at
// the path of Config.CheckURL. Its span, "check-back answer", continues the
// message's trace from the call's traceparent.
func (p *Producer) CheckHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "check-back calls are POST", http.StatusMethodNotAllowed)
			return
		}
		var req checkRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil || req.MessageID == "" || len(req.MessageID) > 128 {
			answer(w, http.StatusBadRequest, checkAnswer{Status: "UNKNOWN", Detail: "body must be JSON with a message_id"})
			return
		}
		ctx := tracecontext.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := tracecontext.Tracer().Start(ctx, "check-back answer", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("messaging.message.id", req.MessageID)))
		defer span.End()
		status, err := p.Check(ctx, req.MessageID)
		if err != nil {
			span.SetAttributes(attribute.String("courier.check.answer", "UNKNOWN"))
			span.SetStatus(codes.Error, err.Error())
			// Never an answer derived from an error: Courier asks again.
			answer(w, http.StatusServiceUnavailable, checkAnswer{Status: "UNKNOWN", Detail: err.Error()})
			return
		}
		span.SetAttributes(attribute.String("courier.check.answer", status))
		answer(w, http.StatusOK, checkAnswer{Status: status})
	})
}

func answer(w http.ResponseWriter, code int, a checkAnswer) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(a)
}

// Check decides message id: "COMMITTED" or "ROLLED_BACK". It inserts a
// rolled_back barrier row unless the message has one, waiting for a
// transaction in flight that writes one, and reads the row. The wait ends
// by ctx's deadline, or after Config.CheckWait, in the database too: a
// statement whose caller gave up does not linger there. An error means the
// answer is unknown.
func (p *Producer) Check(ctx context.Context, id string) (string, error) {
	p.cleanupSoon(ctx)
	d, table := p.cfg.Dialect, p.cfg.Table
	var outcome string
	err := d.BoundedWait(ctx, p.db, p.cfg.CheckWait, func(conn *sql.Conn) error {
		for attempt := 1; ; attempt++ {
			_, err := conn.ExecContext(ctx, insertIfAbsent(d, table), id, outcomeRolledBack, time.Now().UnixMilli())
			if err == nil {
				break
			}
			// Two check-backs of one message waiting on the same
			// transaction can deadlock when it rolls back (both then
			// insert); the database picks a victim, whose insert-if-absent
			// is safe to run again.
			if !deadlock(err) || attempt == 3 || ctx.Err() != nil {
				return err
			}
		}
		var created int64
		if err := conn.QueryRowContext(ctx, selectRow(d, table), id).Scan(&outcome, &created); err != nil {
			return fmt.Errorf("read barrier row: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("check message %s: %w", id, err)
	}
	switch outcome {
	case outcomeCommitted:
		return "COMMITTED", nil
	case outcomeRolledBack:
		return "ROLLED_BACK", nil
	}
	return "", errors.New("check message " + id + ": unexpected barrier outcome " + outcome)
}

// deadlock reports a statement the database aborted to break a deadlock or
// a serialization conflict: SQLSTATE 40001 (MySQL's 1213 too) or 40P01.
func deadlock(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "40001") || strings.Contains(msg, "40p01") || strings.Contains(msg, "deadlock")
}
