package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// retryBudget bounds how long a Client keeps retrying one request through
// outages (Temporal restarting, the gateway answering 503).
const retryBudget = 3 * time.Minute

// Client calls the gateway as producers, consumers and operators do: a
// request that fails without an answer, or with a 5xx or 429, is sent again
// with the same body, which the gateway's idempotency makes safe.
type Client struct {
	base string
	key  string
	http *http.Client
}

// NewClient returns a client of the gateway at base (http://host:port) that
// sends API key key (none when it is empty).
func NewClient(base, key string) *Client {
	return &Client{base: base, key: key, http: &http.Client{Timeout: 15 * time.Second}}
}

// Prepare sends a prepare (direct false) or direct send (true) request.
func (c *Client) Prepare(ctx context.Context, body map[string]any, direct bool) error {
	path := "/v1/messages"
	if direct {
		path = "/v1/messages/send"
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode prepare: %w", err)
	}
	_, err = c.do(ctx, path, b)
	return err
}

// Signal posts confirm, cancel, complete or redrive for message id and
// returns the outcome the gateway answered with.
func (c *Client) Signal(ctx context.Context, id, signal string) (string, error) {
	resp, err := c.do(ctx, "/v1/messages/"+url.PathEscape(id)+"/"+signal, []byte("{}"))
	if err != nil {
		return "", err
	}
	var out struct {
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal(resp, &out); err != nil {
		return "", fmt.Errorf("%s %s: decode answer %q: %w", signal, id, resp, err)
	}
	return out.Outcome, nil
}

// Ready waits up to timeout until the gateway answers GET /readyz with 200:
// its Temporal, mirror and Kafka are reachable.
func (c *Client) Ready(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := c.ready(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w", c.base, timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Client) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/readyz", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("GET /readyz: HTTP %d: %s", resp.StatusCode, b)
	}
	return nil
}

// do posts body to path until it gets a final answer; a 2xx is success and
// any other final status an error.
func (c *Client) do(ctx context.Context, path string, body []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, retryBudget)
	defer cancel()
	delay := 100 * time.Millisecond
	for {
		status, resp, err := c.post(ctx, path, body)
		switch {
		case err == nil && status/100 == 2:
			return resp, nil
		case err == nil && status == http.StatusConflict:
			return nil, &RejectedError{Path: path, Body: string(resp)}
		case err == nil && status < 500 && status != http.StatusTooManyRequests:
			return nil, fmt.Errorf("POST %s: HTTP %d: %s", path, status, resp)
		}
		if err == nil {
			err = fmt.Errorf("HTTP %d: %s", status, resp)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("POST %s: gave up: %w", path, err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

func (c *Client) post(ctx context.Context, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, b, err
}

// RejectedError is a 409 answer: the request conflicts with the message's
// state, so sending it again cannot help.
type RejectedError struct {
	Path string
	Body string
}

func (e *RejectedError) Error() string { return fmt.Sprintf("POST %s: HTTP 409: %s", e.Path, e.Body) }
