package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Status is where a message is in its lifecycle.
type Status string

// The statuses; see Courier's README for the diagram.
const (
	StatusWaitingConfirm Status = "WAITING_CONFIRM"
	StatusCheckExhausted Status = "CHECK_EXHAUSTED"
	StatusScheduled      Status = "SCHEDULED"
	StatusSending        Status = "SENDING"
	StatusDelivered      Status = "DELIVERED"
	StatusDead           Status = "DEAD"
	StatusCompleted      Status = "COMPLETED"
	StatusCancelled      Status = "CANCELLED"
)

// Message is what a producer prepares or sends.
type Message struct {
	// ID identifies the message and is the consumers' dedupe key. Empty:
	// Prepare and Send make a random one (and set it here), so that a
	// retried call is the same request.
	ID    string
	Topic string
	// Key is the Kafka record key (its partition).
	Key string
	// Payload is the Kafka record value, sent as it is.
	Payload []byte
	// Headers are added to the record next to Courier's own.
	Headers map[string]string
	// CheckURL is where Courier asks whether the transaction committed
	// (Prepare only); see producer.Producer.CheckHandler.
	CheckURL string
	// Producer names the producing service.
	Producer string
	// Consumers, when set, must each complete the message.
	Consumers []string
	// DeliverAt delays sending the confirmed message until then.
	DeliverAt *time.Time
	// Policy overrides the gateway's timing for this message; nil keeps it.
	Policy *Policy
}

// prepareBody is the body of prepare and send.
type prepareBody struct {
	ID            string            `json:"id"`
	Topic         string            `json:"topic"`
	Key           string            `json:"key,omitempty"`
	PayloadBase64 string            `json:"payload_base64"`
	Headers       map[string]string `json:"headers,omitempty"`
	CheckURL      string            `json:"check_url,omitempty"`
	Producer      string            `json:"producer,omitempty"`
	Consumers     []string          `json:"consumers,omitempty"`
	DeliverAt     *time.Time        `json:"deliver_at,omitempty"`
	Policy        *policyBody       `json:"policy,omitempty"`
}

type policyBody struct {
	CheckDelay         string   `json:"check_delay,omitempty"`
	CheckBackoff       float64  `json:"check_backoff,omitempty"`
	CheckMaxDelay      string   `json:"check_max_delay,omitempty"`
	CheckMaxAttempts   int      `json:"check_max_attempts,omitempty"`
	CheckTimeout       string   `json:"check_timeout,omitempty"`
	ResendIntervals    []string `json:"resend_intervals,omitempty"`
	PublishMaxInterval string   `json:"publish_max_interval,omitempty"`
}

func duration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func (m *Message) body() prepareBody {
	b := prepareBody{
		ID: m.ID, Topic: m.Topic, Key: m.Key,
		PayloadBase64: base64.StdEncoding.EncodeToString(m.Payload),
		Headers:       m.Headers, CheckURL: m.CheckURL, Producer: m.Producer,
		Consumers: m.Consumers, DeliverAt: m.DeliverAt,
	}
	if p := m.Policy; p != nil {
		b.Policy = &policyBody{
			CheckDelay: duration(p.CheckDelay), CheckBackoff: p.CheckBackoff,
			CheckMaxDelay: duration(p.CheckMaxDelay), CheckMaxAttempts: p.CheckMaxAttempts,
			CheckTimeout: duration(p.CheckTimeout), PublishMaxInterval: duration(p.PublishMaxInterval),
		}
		for _, d := range p.ResendIntervals {
			b.Policy.ResendIntervals = append(b.Policy.ResendIntervals, d.String())
		}
	}
	return b
}

// NewID returns a random UUID (version 4), the id Prepare and Send give a
// message that has none.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Prepared is the answer to Prepare and Send.
type Prepared struct {
	ID     string `json:"id"`
	Status Status `json:"status"`
	// Created is false when the same request had been made before; Status
	// is then the message's current status.
	Created bool `json:"-"`
}

// Prepare stores msg as waiting for its producer's confirm (a half message).
// msg.CheckURL is required. A message without an id gets one, set in msg.
func (c *Client) Prepare(ctx context.Context, msg *Message) (Prepared, error) {
	return c.prepare(ctx, "/v1/messages", msg)
}

// Send sends msg without a local transaction: it starts confirmed.
func (c *Client) Send(ctx context.Context, msg *Message) (Prepared, error) {
	return c.prepare(ctx, "/v1/messages/send", msg)
}

func (c *Client) prepare(ctx context.Context, path string, msg *Message) (Prepared, error) {
	if msg.ID == "" {
		msg.ID = NewID()
	}
	var p Prepared
	status, err := c.do(ctx, http.MethodPost, path, msg.body(), &p)
	p.Created = status == http.StatusCreated
	return p, err
}

// Outcome is what Courier did with a confirm, cancel, complete or redrive.
type Outcome string

const (
	// Applied: it moved the message on.
	Applied Outcome = "applied"
	// Repeated: its effect had happened already; nothing changed.
	Repeated Outcome = "repeated"
	// Accepted: Courier took the request and acts on it later: the
	// message's workflow could not be asked in time and decides it when it
	// runs (see State), or a complete came before Courier saw its own
	// publish (after a crash lost that step) and is applied once the
	// message is published. Either way the caller is done.
	Accepted Outcome = "accepted"
)

// Answer is the answer to confirm, cancel, complete and redrive. A refused
// request (the message's state makes it impossible) is an error matching
// ErrConflict instead.
type Answer struct {
	ID string `json:"id"`
	// Status is the status the request was decided on.
	Status  Status  `json:"status"`
	Outcome Outcome `json:"outcome"`
}

// Confirm tells Courier the message's transaction committed: send it.
func (c *Client) Confirm(ctx context.Context, id, reason string) (Answer, error) {
	return c.decide(ctx, id, "confirm", reason)
}

// Cancel tells Courier the message's transaction rolled back: never send it.
func (c *Client) Cancel(ctx context.Context, id, reason string) (Answer, error) {
	return c.decide(ctx, id, "cancel", reason)
}

// Redrive sends a DEAD message again (admin).
func (c *Client) Redrive(ctx context.Context, id, reason string) (Answer, error) {
	return c.decide(ctx, id, "redrive", reason)
}

func (c *Client) decide(ctx context.Context, id, action, reason string) (Answer, error) {
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	} else {
		body = struct{}{}
	}
	var a Answer
	_, err := c.do(ctx, http.MethodPost, "/v1/messages/"+url.PathEscape(id)+"/"+action, body, &a)
	return a, err
}

// Complete tells Courier consumer has processed the message. consumer is
// required when the message names its consumers.
func (c *Client) Complete(ctx context.Context, id, consumer string) (Answer, error) {
	body := map[string]string{}
	if consumer != "" {
		body["consumer"] = consumer
	}
	var a Answer
	_, err := c.do(ctx, http.MethodPost, "/v1/messages/"+url.PathEscape(id)+"/complete", body, &a)
	return a, err
}

// RedriveResult reports RedriveDead.
type RedriveResult struct {
	Redriven int `json:"redriven"`
	Failed   []struct {
		ID    string `json:"id"`
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"failed"`
}

// RedriveDead re-drives up to limit (0: the gateway's default) DEAD messages
// of topic (admin).
func (c *Client) RedriveDead(ctx context.Context, topic string, limit int, reason string) (RedriveResult, error) {
	body := map[string]any{"topic": topic}
	if limit > 0 {
		body["limit"] = limit
	}
	if reason != "" {
		body["reason"] = reason
	}
	var r RedriveResult
	_, err := c.do(ctx, http.MethodPost, "/v1/messages/redrive", body, &r)
	return r, err
}

// View is a message as Courier's mirror shows it.
type View struct {
	ID            string            `json:"id"`
	Topic         string            `json:"topic"`
	Key           string            `json:"key,omitempty"`
	Payload       json.RawMessage   `json:"payload,omitempty"`
	PayloadBase64 *string           `json:"payload_base64,omitempty"`
	Headers       map[string]string `json:"headers,omitempty"`
	Producer      string            `json:"producer,omitempty"`
	CheckURL      string            `json:"check_url,omitempty"`
	Consumers     []string          `json:"consumers,omitempty"`
	DeliverAt     *time.Time        `json:"deliver_at,omitempty"`
	Status        Status            `json:"status"`
	CheckCount    int               `json:"check_count"`
	SendCount     int               `json:"send_count"`
	LastError     string            `json:"last_error,omitempty"`
	CreatedAt     time.Time         `json:"created_at"`
	ConfirmedAt   *time.Time        `json:"confirmed_at,omitempty"`
	PublishedAt   *time.Time        `json:"published_at,omitempty"`
	CompletedAt   *time.Time        `json:"completed_at,omitempty"`
	UpdatedAt     *time.Time        `json:"updated_at,omitempty"`
	// Source is "mirror", or "workflow" while the mirror catches up.
	Source string `json:"source"`
}

// Bytes is the message's payload as it went to Kafka.
func (v View) Bytes() ([]byte, error) {
	if v.PayloadBase64 != nil {
		return base64.StdEncoding.DecodeString(*v.PayloadBase64)
	}
	return v.Payload, nil
}

// Get returns message id (admin).
func (c *Client) Get(ctx context.Context, id string) (View, error) {
	var v View
	_, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id), nil, &v)
	return v, err
}

// State is a message's live state from its workflow: every check-back,
// publish and signal (admin). It is returned as the gateway sends it.
func (c *Client) State(ctx context.Context, id string) (json.RawMessage, error) {
	var st json.RawMessage
	_, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id)+"?live=1", nil, &st)
	return st, err
}

// Filter selects messages for List; zero fields do not filter.
type Filter struct {
	Status      Status
	Topic       string
	Producer    string
	CreatedFrom time.Time
	CreatedTo   time.Time
	// Limit is the page size; 0 is the gateway's default.
	Limit int
	// Cursor fetches the page after the one that returned it.
	Cursor string
}

// Page is one page of List.
type Page struct {
	Messages []View `json:"messages"`
	// NextCursor fetches the next page; empty on the last one.
	NextCursor string `json:"next_cursor,omitempty"`
}

// List returns messages from the mirror, newest first (admin).
func (c *Client) List(ctx context.Context, f Filter) (Page, error) {
	q := url.Values{}
	set := func(name, v string) {
		if v != "" {
			q.Set(name, v)
		}
	}
	set("status", string(f.Status))
	set("topic", f.Topic)
	set("producer", f.Producer)
	if !f.CreatedFrom.IsZero() {
		q.Set("created_from", f.CreatedFrom.Format(time.RFC3339Nano))
	}
	if !f.CreatedTo.IsZero() {
		q.Set("created_to", f.CreatedTo.Format(time.RFC3339Nano))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	set("cursor", f.Cursor)
	path := "/v1/messages"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var p Page
	_, err := c.do(ctx, http.MethodGet, path, nil, &p)
	return p, err
}

// Stats are the mirror's message counts.
type Stats struct {
	ByStatus map[Status]int64 `json:"by_status"`
	Total    int64            `json:"total"`
}

// Stats returns the mirror's message counts by status (admin).
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var s Stats
	_, err := c.do(ctx, http.MethodGet, "/v1/stats", nil, &s)
	return s, err
}
