package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/courier-mq/courier/client/internal/tracecontext"
	"github.com/courier-mq/courier/client/wire"
)

// Every call carries the caller's trace context (ctx's span) to the gateway
// in W3C traceparent and tracestate headers.

// Config shapes a Client. Zero fields take the defaults.
type Config struct {
	// URL is the gateway's base URL, e.g. http://127.0.0.1:8080. Required.
	URL string
	// APIKey is sent as "Authorization: Bearer <key>"; empty sends none
	// (a gateway without keys).
	APIKey string
	// Timeout bounds one attempt. Default 10 s; a confirm waits for its
	// publish, which takes up to a few seconds when Kafka is slow.
	Timeout time.Duration
	// Attempts is how many times a call is tried when its outcome is
	// unknown or refused for now. Default 5; 1 disables retries.
	Attempts int
	// Backoff is the wait before the second attempt, doubled before each
	// further one (with jitter), up to MaxBackoff. Default 200 ms and 5 s.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// HTTP sends the requests. Default: a client of its own.
	HTTP *http.Client
}

// Client calls one Courier gateway. It is safe for concurrent use.
type Client struct {
	cfg  Config
	base string
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("courier client: URL is required")
	}
	if !strings.HasPrefix(cfg.URL, "http://") && !strings.HasPrefix(cfg.URL, "https://") {
		return nil, fmt.Errorf("courier client: URL %q must start with http:// or https://", cfg.URL)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 5
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	return &Client{cfg: cfg, base: strings.TrimRight(cfg.URL, "/")}, nil
}

// do sends method path with body (marshalled to JSON unless nil), retrying as
// the package doc says, and decodes a 2xx answer into out. It returns the
// answer's status.
func (c *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, fmt.Errorf("courier: %s %s: encode request: %w", method, path, err)
		}
	}
	wait := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		status, err := c.once(ctx, method, path, payload, out)
		var apiErr *Error
		if err == nil || !errors.As(err, &apiErr) || !apiErr.retryable() || attempt >= c.cfg.Attempts {
			return status, err
		}
		// Full jitter keeps many clients from retrying in step.
		d := wait/2 + rand.N(wait/2+1)
		select {
		case <-ctx.Done():
			return status, errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
		wait = min(wait*2, c.cfg.MaxBackoff)
	}
}

// once makes one attempt.
func (c *Client) once(ctx context.Context, method, path string, payload []byte, out any) (int, error) {
	op := method + " " + path
	actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(actx, method, c.base+path, rd)
	if err != nil {
		return 0, fmt.Errorf("courier: %s: %w", op, err)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	tracecontext.Propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, fmt.Errorf("courier: %s: %w", op, ctx.Err())
		}
		return 0, &Error{Op: op, Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return resp.StatusCode, &Error{Op: op, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &Error{Op: op, Status: resp.StatusCode, Message: strings.TrimSpace(string(raw))}
		var eb wire.Error
		if json.Unmarshal(raw, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message = eb.Error.Code, eb.Error.Message
		}
		return resp.StatusCode, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("courier: %s: decode answer: %w", op, err)
		}
	}
	return resp.StatusCode, nil
}
