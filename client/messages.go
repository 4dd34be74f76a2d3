package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/courier-mq/courier/client/wire"
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

// body is msg as the gateway reads it.
func (m *Message) body() wire.PrepareRequest {
	id := m.ID
	enc := base64.StdEncoding.EncodeToString(m.Payload)
	b := wire.PrepareRequest{
		ID: &id, Topic: m.Topic, Key: m.Key, PayloadBase64: &enc,
		Headers: m.Headers, CheckURL: m.CheckURL, Producer: m.Producer, Consumers: m.Consumers,
	}
	if m.DeliverAt != nil {
		at := m.DeliverAt.Format(time.RFC3339Nano)
		b.DeliverAt = &at
	}
	if p := m.Policy; p != nil {
		b.Policy = &wire.Policy{
			CheckDelay: duration(p.CheckDelay), CheckBackoff: nonZero(p.CheckBackoff),
			CheckMaxDelay: duration(p.CheckMaxDelay), CheckMaxAttempts: nonZero(p.CheckMaxAttempts),
			CheckTimeout: duration(p.CheckTimeout), PublishMaxInterval: duration(p.PublishMaxInterval),
		}
		for _, d := range p.ResendIntervals {
			b.Policy.ResendIntervals = append(b.Policy.ResendIntervals, d.String())
		}
	}
	return b
}

// duration is d as the gateway reads it; nil, which keeps the gateway's
// default, when d is zero.
func duration(d time.Duration) *string {
	if d == 0 {
		return nil
	}
	s := d.String()
	return &s
}

// nonZero is v, or nil (the gateway's default) when v is zero.
func nonZero[T int | float64](v T) *T {
	if v == 0 {
		return nil
	}
	return &v
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
	wire.PrepareResponse
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

// Confirm tells Courier the message's transaction committed: send it.
func (c *Client) Confirm(ctx context.Context, id, reason string) (wire.SignalResponse, error) {
	return c.decide(ctx, id, "confirm", reason)
}

// Cancel tells Courier the message's transaction rolled back: never send it.
func (c *Client) Cancel(ctx context.Context, id, reason string) (wire.SignalResponse, error) {
	return c.decide(ctx, id, "cancel", reason)
}

// Redrive sends a DEAD message again (admin).
func (c *Client) Redrive(ctx context.Context, id, reason string) (wire.SignalResponse, error) {
	return c.decide(ctx, id, "redrive", reason)
}

func (c *Client) decide(ctx context.Context, id, action, reason string) (wire.SignalResponse, error) {
	var a wire.SignalResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/messages/"+url.PathEscape(id)+"/"+action, wire.DecisionRequest{Reason: reason}, &a)
	return a, err
}

// Complete tells Courier consumer has processed the message. consumer is
// required when the message names its consumers.
func (c *Client) Complete(ctx context.Context, id, consumer string) (wire.SignalResponse, error) {
	var a wire.SignalResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/messages/"+url.PathEscape(id)+"/complete", wire.CompletionRequest{Consumer: consumer}, &a)
	return a, err
}

// RedriveDead re-drives up to limit (0: the gateway's default) DEAD messages
// of topic (admin).
func (c *Client) RedriveDead(ctx context.Context, topic string, limit int, reason string) (wire.RedriveResponse, error) {
	body := wire.RedriveRequest{Topic: topic, Reason: reason}
	if limit > 0 {
		body.Limit = &limit
	}
	var r wire.RedriveResponse
	_, err := c.do(ctx, http.MethodPost, "/v1/messages/redrive", body, &r)
	return r, err
}

// Get returns message id as the mirror shows it (admin, its producer, or a
// consumer that may complete it).
func (c *Client) Get(ctx context.Context, id string) (wire.Message, error) {
	var v wire.Message
	_, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id), nil, &v)
	return v, err
}

// State returns message id as its workflow knows it now: the view Get
// returns, with the workflow's status, counts and times, which the mirror
// may lag, and its record: every check-back, publish and signal (the
// members wire.Message marks live). Same access as Get.
func (c *Client) State(ctx context.Context, id string) (wire.Message, error) {
	var v wire.Message
	_, err := c.do(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id)+"?live=1", nil, &v)
	return v, err
}

// Filter selects messages for List; zero fields do not filter.
type Filter struct {
	Status   wire.Status
	Topic    string
	Producer string
	// Key is the message's Kafka key, matched exactly.
	Key         string
	CreatedFrom time.Time
	CreatedTo   time.Time
	// Limit is the page size; 0 is the gateway's default.
	Limit int
	// Cursor fetches the page after the one that returned it.
	Cursor string
}

// List returns messages from the mirror, newest first (admin).
func (c *Client) List(ctx context.Context, f Filter) (wire.MessageList, error) {
	q := url.Values{}
	set := func(name, v string) {
		if v != "" {
			q.Set(name, v)
		}
	}
	set("status", string(f.Status))
	set("topic", f.Topic)
	set("producer", f.Producer)
	set("key", f.Key)
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
	var p wire.MessageList
	_, err := c.do(ctx, http.MethodGet, path, nil, &p)
	return p, err
}

// Stats returns the mirror's message counts by status (admin).
func (c *Client) Stats(ctx context.Context) (wire.Stats, error) {
	var s wire.Stats
	_, err := c.do(ctx, http.MethodGet, "/v1/stats", nil, &s)
	return s, err
}
