package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/tracing"
)

// DefaultMaxCheckBody is how many bytes of a check-back answer are read when
// Activities.MaxCheckBody is zero.
const DefaultMaxCheckBody = 64 << 10

// CheckHeaderMessageID is the HTTP header of a check-back call that names the
// message, so a producer can route the call before reading the body.
const CheckHeaderMessageID = "Courier-Message-Id"

// maxDetailStatus bounds how much of an unexpected status string is repeated
// in CheckResult.Detail.
const maxDetailStatus = 64

// CheckRequest is the JSON body of a check-back call: POST to the message's
// check URL with Content-Type application/json.
type CheckRequest struct {
	MessageID string `json:"message_id"`
	Topic     string `json:"topic"`
	Key       string `json:"key"`
	Producer  string `json:"producer"`
	// Attempt counts the check-backs for this message, starting at 1.
	Attempt int `json:"attempt"`
}

// CheckResponse is the JSON body a producer answers a check-back with, in a
// 2xx response. Status must be exactly "COMMITTED" or "ROLLED_BACK" (case
// matters) to decide the message; "UNKNOWN" or anything else means ask again
// later. Other fields are ignored.
type CheckResponse struct {
	Status string `json:"status"`
}

// CheckBack asks the producer at in.URL whether the message's local
// transaction committed. Only a 2xx answer whose JSON body has status
// "COMMITTED" or "ROLLED_BACK" decides the message. Every other outcome (an
// UNKNOWN or unexpected status, a non-2xx or redirect answer, a malformed body
// or one over MaxCheckBody bytes, no answer in time, no connection, an invalid
// URL) is CheckUnknown with the reason in Detail and a nil error: the workflow
// asks again on its schedule, and only its own failures are activity errors.
//
// The call gets most of the time left before ctx's deadline (under Temporal the
// activity's StartToCloseTimeout, the policy's CheckTimeout), so a producer
// that does not answer in time yields UNKNOWN rather than an activity timeout.
//
// The call is a client span ("check-back", a child of in.Trace) with the
// answer and its detail as attributes, and the request carries it in
// traceparent, so the producer's handler can continue the message's trace.
func (a *Activities) CheckBack(ctx context.Context, in CheckInput) (CheckResult, error) {
	ctx, span := tracing.Tracer().Start(in.Trace.Context(ctx), "check-back", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("courier.message.id", in.MessageID), attribute.Int("courier.check.attempt", in.Attempt)))
	res, err := a.checkBack(ctx, in)
	span.SetAttributes(attribute.String("courier.check.answer", string(res.Answer)))
	if res.Detail != "" {
		span.SetAttributes(attribute.String("courier.check.detail", res.Detail))
	}
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
	return res, err
}

func (a *Activities) checkBack(ctx context.Context, in CheckInput) (CheckResult, error) {
	ctx, cancel, budget := checkContext(ctx)
	defer cancel()

	body, err := json.Marshal(CheckRequest{
		MessageID: in.MessageID,
		Topic:     in.Topic,
		Key:       in.Key,
		Producer:  in.Producer,
		Attempt:   in.Attempt,
	})
	if err != nil {
		return CheckResult{}, fmt.Errorf("check-back %s: encode request: %w", in.MessageID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, bytes.NewReader(body))
	if err != nil {
		return unknown("invalid check URL: %v", err), nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set(CheckHeaderMessageID, in.MessageID)
	tracing.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))

	resp, err := a.HTTP.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return unknown("no answer within %s", budget.Round(time.Millisecond)), nil
		}
		return unknown("call failed: %v", err), nil
	}
	// Closing early drops the connection instead of draining what is left.
	defer resp.Body.Close()
	return a.readAnswer(resp, budget), nil
}

// readAnswer turns the producer's HTTP answer into a CheckResult.
func (a *Activities) readAnswer(resp *http.Response, budget time.Duration) CheckResult {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
			return unknown("HTTP %s to %s: redirects are not followed", resp.Status, loc)
		}
		return unknown("HTTP %s", resp.Status)
	}
	limit := a.MaxCheckBody
	if limit <= 0 {
		limit = DefaultMaxCheckBody
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return unknown("answer not read within %s", budget.Round(time.Millisecond))
		}
		return unknown("read answer: %v", err)
	}
	if int64(len(raw)) > limit {
		return unknown("malformed answer: longer than %d bytes", limit)
	}
	var answer CheckResponse
	if err := json.Unmarshal(raw, &answer); err != nil {
		return unknown("malformed answer: %v", err)
	}
	switch status := models.CheckAnswer(answer.Status); status {
	case models.CheckCommitted, models.CheckRolledBack:
		return CheckResult{Answer: status}
	case models.CheckUnknown:
		return unknown("producer answered %s", models.CheckUnknown)
	case "":
		return unknown("malformed answer: no status")
	}
	status := answer.Status
	if len(status) > maxDetailStatus {
		status = status[:maxDetailStatus] + "..."
	}
	return unknown("unexpected status %q", status)
}

// unknown is an UNKNOWN result explaining why.
func unknown(format string, args ...any) CheckResult {
	return CheckResult{Answer: models.CheckUnknown, Detail: fmt.Sprintf(format, args...)}
}

// checkContext bounds a check-back call to nine tenths of the time left before
// ctx's deadline, keeping at most a second to report the answer before the
// activity itself times out. It returns the call's time budget, zero when ctx
// has no deadline.
func checkContext(ctx context.Context) (context.Context, context.CancelFunc, time.Duration) {
	deadline, ok := ctx.Deadline()
	if !ok {
		ctx, cancel := context.WithCancel(ctx)
		return ctx, cancel, 0
	}
	left := time.Until(deadline)
	budget := left - min(left/10, time.Second)
	ctx, cancel := context.WithTimeout(ctx, budget)
	return ctx, cancel, budget
}

// NewCheckClient is the HTTP client for check-back calls. It never follows a
// redirect: a 3xx is just an answer that is not 2xx, so a check URL cannot
// send Courier's requests elsewhere. Connecting and the TLS handshake are
// bounded at 5 s; the whole call is bounded by the activity's context.
func NewCheckClient() *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	transport.TLSHandshakeTimeout = 5 * time.Second
	transport.ExpectContinueTimeout = time.Second
	transport.MaxIdleConnsPerHost = 16
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
