package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
)

// viewRow renders a mirror row as the read routes show a message: the
// payload as JSON when it is valid JSON, else as payload_base64; list items
// (withPayload false) leave it out.
func viewRow(m *models.Message, withPayload bool) wire.Message {
	updated := m.UpdatedAt
	v := wire.Message{
		ID: m.ID, Topic: m.Topic, Key: m.Key, Headers: m.Headers, Producer: m.Producer,
		CheckURL: m.CheckURL, Consumers: m.Consumers, DeliverAt: m.DeliverAt,
		Status: m.Status, CheckCount: m.CheckCount, SendCount: m.SendCount, LastError: m.LastError,
		CreatedAt: m.CreatedAt, ConfirmedAt: m.ConfirmedAt, PublishedAt: m.PublishedAt,
		CompletedAt: m.CompletedAt, UpdatedAt: &updated, Revision: m.Revision, Source: wire.SourceMirror,
	}
	if !m.StatusAt.IsZero() {
		at := m.StatusAt
		v.StatusAt = &at
	}
	if withPayload {
		if json.Valid(m.Payload) {
			v.Payload = json.RawMessage(m.Payload)
		} else {
			enc := base64.StdEncoding.EncodeToString(m.Payload)
			v.PayloadBase64 = &enc
		}
	}
	return v
}

// viewState renders a workflow's state, for a message the mirror does not
// have yet; without live, only what its description holds is set.
func viewState(st contract.State, live bool) wire.Message {
	if !live {
		return wire.Message{ID: st.MessageID, Topic: st.Topic, Status: st.Status, CreatedAt: st.CreatedAt, Source: wire.SourceWorkflow}
	}
	return wire.Message{
		ID: st.MessageID, Topic: st.Topic, Consumers: st.Consumers, DeliverAt: st.DeliverAt,
		Status: st.Status, CheckCount: st.CheckCount, SendCount: st.SendCount, LastError: st.LastError,
		CreatedAt: st.CreatedAt, ConfirmedAt: st.ConfirmedAt, PublishedAt: st.PublishedAt,
		CompletedAt: st.CompletedAt, Revision: st.Revision, Source: wire.SourceWorkflow,
	}
}

// viewLive renders the ?live=1 view: the plain view's schema, with what the
// workflow knows taken from its state, since the mirror may lag it, and
// what only the mirror keeps (key, payload, headers, producer, check URL,
// all fixed at prepare) from row, when the mirror has it. The workflow's
// query type is its own and may grow; the API shows only what wire.Message
// names.
func viewLive(st contract.State, row *models.Message) wire.Message {
	var v wire.Message
	if row != nil {
		v = viewRow(row, true)
		// The mirror's times of its own writes; its status may be behind
		// the workflow's.
		v.UpdatedAt, v.StatusAt = nil, nil
	}
	w := viewState(st, true)
	v.ID, v.Topic, v.Consumers, v.DeliverAt = w.ID, w.Topic, w.Consumers, w.DeliverAt
	v.Status, v.CheckCount, v.SendCount, v.LastError = w.Status, w.CheckCount, w.SendCount, w.LastError
	v.CreatedAt, v.ConfirmedAt, v.PublishedAt, v.CompletedAt = w.CreatedAt, w.ConfirmedAt, w.PublishedAt, w.CompletedAt
	v.Revision, v.Source = w.Revision, w.Source
	v.CompletedBy, v.NextAt, v.SignalsDropped, v.TraceID = st.CompletedBy, st.NextAt, st.SignalsDropped, st.TraceID
	for _, e := range st.EarlyCompletions {
		v.EarlyCompletions = append(v.EarlyCompletions, wire.EarlyCompletion{Consumer: e.Consumer, At: e.At})
	}
	for _, c := range st.Checks {
		v.Checks = append(v.Checks, wire.CheckRecord{Attempt: c.Attempt, At: c.At, Answer: string(c.Answer), Detail: c.Detail})
	}
	for _, p := range st.Publishes {
		v.Publishes = append(v.Publishes, wire.PublishRecord{Attempt: p.Attempt, At: p.At, Partition: p.Partition, Offset: p.Offset, Error: p.Error})
	}
	for _, r := range st.Signals {
		v.Signals = append(v.Signals, wire.SignalRecord{
			Name: r.Name, At: r.At, Outcome: r.Outcome, By: r.By, Consumer: r.Consumer, Reason: r.Reason,
		})
	}
	return v
}

// get handles GET /v1/messages/{id}: the mirror row, or with ?live=1 the
// same view from the workflow's state, with its record (checks, publishes,
// signals and what comes next). An admin reads every message; a producer
// its own, a consumer those it may complete.
// While the mirror has no row yet, the workflow answers: its state query, or
// when no worker answers, its search attributes.
func (s *Server) get(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	q := c.QueryParams()
	if err := onlyParams(q, "live"); err != nil {
		return err
	}
	live := false
	if v := q.Get("live"); v != "" {
		if live, err = strconv.ParseBool(v); err != nil {
			return invalid("live must be 1, true, 0 or false, got %q", clip(v))
		}
	}
	ctx := c.Request().Context()
	if who := caller(c); !who.Is(access.Admin) {
		m, err := s.owner(ctx, id, who)
		if err != nil {
			return err
		}
		if err := who.Read(m); err != nil {
			return err
		}
	}
	if live {
		st, err := s.messages.State(ctx, id)
		if err != nil {
			return messageError(id, err)
		}
		row, err := s.store.Get(ctx, id)
		if errors.Is(err, models.ErrNotFound) {
			row = nil
		} else if err != nil {
			return unavailable("the message mirror", err)
		}
		return c.JSON(http.StatusOK, viewLive(st, row))
	}
	m, err := s.ops.Read(ctx, id)
	if err != nil {
		return messageError(id, err)
	}
	if m.Row != nil {
		return c.JSON(http.StatusOK, viewRow(m.Row, true))
	}
	return c.JSON(http.StatusOK, viewState(m.State, m.Live))
}

// list handles GET /v1/messages: the mirror's messages, newest first,
// filtered (key by exact match) and paged by cursor. Items carry no payload. A producer lists only
// its own messages; an admin every producer's.
func (s *Server) list(c echo.Context) error {
	q := c.QueryParams()
	if err := onlyParams(q, "status", "topic", "producer", "key", "created_from", "created_to", "limit", "cursor"); err != nil {
		return err
	}
	f, err := listFilter(q)
	if err != nil {
		return err
	}
	if f.Producer, err = caller(c).ListAs(f.Producer); err != nil {
		return err
	}
	page, err := s.store.List(c.Request().Context(), f)
	if errors.Is(err, store.ErrBadCursor) {
		return invalid("cursor is not one this API returned")
	}
	if err != nil {
		return unavailable("the message mirror", err)
	}
	resp := wire.MessageList{Messages: make([]wire.Message, len(page.Messages)), NextCursor: page.NextCursor}
	for i := range page.Messages {
		resp.Messages[i] = viewRow(&page.Messages[i], false)
	}
	return c.JSON(http.StatusOK, resp)
}

// maxListLimit is the largest page GET /v1/messages returns.
const maxListLimit = 500

// listFilter parses and checks the list query parameters, reporting every
// bad one.
func listFilter(q url.Values) (store.Filter, error) {
	var f store.Filter
	var errs []error
	if v := q.Get("status"); v != "" {
		f.Status = wire.Status(v)
		if !f.Status.Valid() {
			errs = append(errs, errors.New("status "+strconv.Quote(clip(v))+" is not a message status"))
		}
	}
	if v := q.Get("topic"); v != "" {
		f.Topic = v
		if err := models.CheckTopic(v); err != nil {
			errs = append(errs, err)
		}
	}
	if v := q.Get("producer"); v != "" {
		f.Producer = v
		if err := models.CheckProducer(v); err != nil {
			errs = append(errs, err)
		}
	}
	if v := q.Get("key"); v != "" {
		f.Key = v
		if err := models.CheckKey(v); err != nil {
			errs = append(errs, err)
		}
	}
	parseTime := func(name string, dst *time.Time) {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				errs = append(errs, errors.New(name+" "+strconv.Quote(clip(v))+" is not an RFC 3339 time"))
			}
			*dst = t
		}
	}
	parseTime("created_from", &f.CreatedFrom)
	parseTime("created_to", &f.CreatedTo)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			errs = append(errs, errors.New("limit must be an integer between 1 and "+strconv.Itoa(maxListLimit)))
		}
		f.Limit = n
	}
	f.Cursor = q.Get("cursor")
	if err := errors.Join(errs...); err != nil {
		return f, invalid("%s", joinLines(err))
	}
	return f, nil
}

// onlyParams refuses query parameters not in allowed, and repeated ones: a
// misspelt filter must not silently list everything.
func onlyParams(q url.Values, allowed ...string) error {
	for name, values := range q {
		if !slices.Contains(allowed, name) {
			return invalid("unknown query parameter %q", clip(name))
		}
		if len(values) > 1 {
			return invalid("query parameter %q is given %d times", name, len(values))
		}
	}
	return nil
}

// stats handles GET /v1/stats: the mirror's message counts by status, with
// every status present.
func (s *Server) stats(c echo.Context) error {
	if err := onlyParams(c.QueryParams()); err != nil {
		return err
	}
	counts, err := s.store.CountByStatus(c.Request().Context())
	if err != nil {
		return unavailable("the message mirror", err)
	}
	resp := wire.Stats{ByStatus: make(map[wire.Status]int64, len(counts))}
	for status, n := range counts {
		resp.ByStatus[status] = n
		resp.Total += n
	}
	return c.JSON(http.StatusOK, resp)
}
