package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// retryBudget bounds how long a Client keeps retrying one request through
// outages (Temporal restarting, the gateway answering 503).
const retryBudget = 3 * time.Minute

// Client calls the gateway as producers, consumers and operators do: a
// request that fails without an answer, or with a 5xx or 429, is sent again
// with the same body, which the gateway's idempotency makes safe.
type Client struct {
	bases []string
	key   string
	http  *http.Client
	// turn picks the gateway of the next request; a request whose
	// connection fails moves on to the next gateway.
	turn atomic.Uint64
	// attempts counts the requests sent, retries included, and
	// serverErrors the 5xx answers among them.
	attempts, serverErrors atomic.Int64
	// codes counts the 5xx answers by status code.
	mu    sync.Mutex
	codes map[int]int64
}

// NewClient returns a client of the gateway at base (http://host:port) that
// sends API key key (none when it is empty).
func NewClient(base, key string) *Client { return NewSpreadClient([]string{base}, key) }

// NewSpreadClient returns a client that spreads its requests over the
// gateways at bases, as producers behind a load balancer do: a request whose
// connection is refused goes to the next gateway.
func NewSpreadClient(bases []string, key string) *Client {
	return &Client{bases: bases, key: key, http: &http.Client{Timeout: 15 * time.Second}}
}

// ServerErrors counts the 5xx answers the client received, retried or not,
// of Attempts requests sent.
func (c *Client) ServerErrors() int64 { return c.serverErrors.Load() }

// ServerErrorCodes counts the 5xx answers by status code.
func (c *Client) ServerErrorCodes() map[int]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.codes)
}

// Attempts counts the requests sent, retries included.
func (c *Client) Attempts() int64 { return c.attempts.Load() }

// base is the gateway the next attempt goes to.
func (c *Client) base() string { return c.bases[c.turn.Load()%uint64(len(c.bases))] }

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
	for _, base := range c.bases {
		for {
			err := c.ready(ctx, base)
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not ready after %s: %w", base, timeout, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func (c *Client) ready(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
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
	c.turn.Add(1)
	for {
		status, resp, err := c.post(ctx, path, body)
		c.attempts.Add(1)
		if err != nil {
			c.turn.Add(1) // this gateway may be down: try the next
		} else if status >= 500 {
			c.serverErrors.Add(1)
			c.mu.Lock()
			if c.codes == nil {
				c.codes = map[int]int64{}
			}
			c.codes[status]++
			c.mu.Unlock()
		}
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base()+path, bytes.NewReader(body))
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
