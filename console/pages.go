package console

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
	"github.com/courier-mq/courier/store"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"age": func(t time.Time) string { return ago(time.Since(t)) },
	"when": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"at": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") },
	"clip": func(s string, n int) string {
		if len([]rune(s)) <= n {
			return s
		}
		return string([]rune(s)[:n]) + "…"
	},
	"listURL":  listURL,
	"statuses": func() []wire.Status { return wire.Statuses },
}

// ago is a duration as people read an age: "3m", "2h 5m", "4d".
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// listURL is the list page filtered by pairs of query names and values.
func listURL(pairs ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			q.Set(pairs[i], pairs[i+1])
		}
	}
	if len(q) == 0 {
		return "/console/messages"
	}
	return "/console/messages?" + q.Encode()
}

// overviewData is the overview page.
type overviewData struct {
	Statuses []statusCount
	Total    int64
	// StuckWaiting counts the WAITING_CONFIRM messages older than their
	// first check-back; StuckBefore is the created_to of their list.
	StuckWaiting int64
	StuckBefore  string
	FirstCheck   time.Duration
	Exhausted    int64
	Dead         int64
	Topics       []topicCounts
	LastHour     store.Activity
}

type statusCount struct {
	Status wire.Status
	N      int64
}

type topicCounts struct {
	Topic  string
	Counts []statusCount
	Total  int64
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, _ access.Identity) {
	ctx := r.Context()
	now := time.Now().UTC()
	var d overviewData
	byStatus, err := c.store.CountByStatus(ctx)
	if err == nil {
		for _, st := range wire.Statuses {
			d.Statuses = append(d.Statuses, statusCount{st, byStatus[st]})
			d.Total += byStatus[st]
		}
		d.Exhausted, d.Dead = byStatus[wire.StatusCheckExhausted], byStatus[wire.StatusDead]
		before := now.Add(-c.cfg.FirstCheck)
		d.StuckBefore, d.FirstCheck = before.Format(formTime), c.cfg.FirstCheck
		d.StuckWaiting, err = c.store.CountStatusBefore(ctx, wire.StatusWaitingConfirm, before)
	}
	var byTopic map[string]map[wire.Status]int64
	if err == nil {
		byTopic, err = c.store.CountByTopic(ctx)
	}
	if err == nil {
		d.LastHour, err = c.store.ActivitySince(ctx, now.Add(-time.Hour))
	}
	if err != nil {
		c.unavailable(w, r, err)
		return
	}
	topics := make([]string, 0, len(byTopic))
	for t := range byTopic {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		tc := topicCounts{Topic: t}
		for _, st := range wire.Statuses {
			tc.Counts = append(tc.Counts, statusCount{st, byTopic[t][st]})
			tc.Total += byTopic[t][st]
		}
		d.Topics = append(d.Topics, tc)
	}
	c.render(w, r, http.StatusOK, "overview.html", "Overview", d)
}

// formTime is the layout of the list's time filters: what an HTML
// datetime-local input sends, read as UTC.
const formTime = "2006-01-02T15:04"

// listPageSize is the console list's page size.
const listPageSize = 25

// listData is the list page.
type listData struct {
	Filter   listFilter
	Rows     []listRow
	Next     string
	Problems []string
}

type listFilter struct {
	Status, Topic, Producer, IDPrefix, From, To string
}

type listRow struct {
	models.Message
	// NextAt is when the workflow acts next, from its live state; nil when
	// it does not wait or did not answer in time.
	NextAt *time.Time
}

func (c *Console) list(w http.ResponseWriter, r *http.Request, _ access.Identity) {
	q := r.URL.Query()
	lf := listFilter{Status: q.Get("status"), Topic: q.Get("topic"), Producer: q.Get("producer"), IDPrefix: q.Get("id"), From: q.Get("created_from"), To: q.Get("created_to")}
	f := store.Filter{Status: wire.Status(lf.Status), Topic: lf.Topic, Producer: lf.Producer, IDPrefix: lf.IDPrefix, Limit: listPageSize, Cursor: q.Get("cursor")}
	var problems []string
	if lf.Status != "" && !f.Status.Valid() {
		problems = append(problems, fmt.Sprintf("%q is not a status", lf.Status))
	}
	for _, check := range []struct {
		value string
		check func(string) error
	}{{lf.Topic, models.CheckTopic}, {lf.Producer, models.CheckProducer}, {lf.IDPrefix, models.CheckID}} {
		if check.value != "" {
			if err := check.check(check.value); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	for _, tf := range []struct {
		value string
		dst   *time.Time
	}{{lf.From, &f.CreatedFrom}, {lf.To, &f.CreatedTo}} {
		if tf.value != "" {
			t, err := time.Parse(formTime, tf.value)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%q is not a time like 2026-01-02T15:04", tf.value))
			}
			*tf.dst = t
		}
	}
	d := listData{Filter: lf, Problems: problems}
	if len(problems) > 0 {
		c.render(w, r, http.StatusBadRequest, "list.html", "Messages", d)
		return
	}
	page, err := c.store.List(r.Context(), f)
	if errors.Is(err, store.ErrBadCursor) {
		d.Problems = []string{"the page link is not one this console made: start from the first page"}
		c.render(w, r, http.StatusBadRequest, "list.html", "Messages", d)
		return
	}
	if err != nil {
		c.unavailable(w, r, err)
		return
	}
	d.Rows = c.withNextAt(r.Context(), page.Messages)
	if page.NextCursor != "" {
		next := r.URL.Query()
		next.Set("cursor", page.NextCursor)
		d.Next = "/console/messages?" + next.Encode()
	}
	c.render(w, r, http.StatusOK, "list.html", "Messages", d)
}

// waits are the statuses in which a workflow acts next on its own.
var waits = []wire.Status{wire.StatusWaitingConfirm, wire.StatusScheduled, wire.StatusDelivered}

// withNextAt adds to the messages that wait the time their workflow acts
// next, asking their workflows a few at a time for at most two seconds: the
// mirror does not keep it.
func (c *Console) withNextAt(ctx context.Context, msgs []models.Message) []listRow {
	rows := make([]listRow, len(msgs))
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var g errgroup.Group
	g.SetLimit(8)
	for i := range msgs {
		rows[i].Message = msgs[i]
		if !slices.Contains(waits, msgs[i].Status) {
			continue
		}
		g.Go(func() error {
			if st, err := c.messages.State(ctx, msgs[i].ID); err == nil {
				rows[i].NextAt = st.NextAt
			}
			return nil
		})
	}
	_ = g.Wait()
	return rows
}

// detailData is a message's page.
type detailData struct {
	Message *models.Message
	// Live is the workflow's state; LiveErr says why there is none.
	Live     *contract.State
	LiveErr  string
	Payload  payloadView
	Timeline []event
	// WorkflowURL links to the workflow in the Temporal Web UI.
	WorkflowURL string
	// Actions are those the message's status allows.
	Actions []models.Action
}

// payloadView is a payload shown safely: as indented JSON text when it is
// JSON, else as hex and base64. Templates escape it; it is never HTML.
type payloadView struct {
	JSON   string
	Hex    string
	Base64 string
	Size   int
}

func viewPayload(p []byte) payloadView {
	v := payloadView{Size: len(p)}
	var b bytes.Buffer
	if json.Valid(p) && json.Indent(&b, p, "", "  ") == nil {
		v.JSON = b.String()
		return v
	}
	v.Hex = hex.Dump(p)
	v.Base64 = base64.StdEncoding.EncodeToString(p)
	return v
}

// event is one line of a message's timeline.
type event struct {
	At   time.Time
	What string
	// Outcome is the answer: a check-back's, a publish's place or error, a
	// signal's disposition.
	Outcome string
	Detail  string
	Bad     bool
}

// timeline merges the check-backs, publishes and signals of st by time.
func timeline(st *contract.State) []event {
	ev := []event{{At: st.CreatedAt, What: "prepared"}}
	if st.ConfirmedAt != nil {
		ev = append(ev, event{At: *st.ConfirmedAt, What: "confirmed"})
	}
	for _, ch := range st.Checks {
		ev = append(ev, event{At: ch.At, What: fmt.Sprintf("check-back %d", ch.Attempt), Outcome: string(ch.Answer), Detail: ch.Detail, Bad: ch.Answer != "COMMITTED" && ch.Answer != "ROLLED_BACK"})
	}
	for _, p := range st.Publishes {
		e := event{At: p.At, What: fmt.Sprintf("publish %d", p.Attempt)}
		if p.Error != "" {
			e.Outcome, e.Detail, e.Bad = "failed", p.Error, true
		} else {
			e.Outcome = fmt.Sprintf("partition %d, offset %d", p.Partition, p.Offset)
		}
		ev = append(ev, e)
	}
	for _, s := range st.Signals {
		e := event{At: s.At, What: s.Name, Outcome: string(s.Outcome), Bad: s.Outcome == wire.Rejected}
		var parts []string
		if s.By != "" {
			parts = append(parts, "by "+s.By)
		}
		if s.Consumer != "" {
			parts = append(parts, "consumer "+s.Consumer)
		}
		if s.Reason != "" {
			parts = append(parts, s.Reason)
		}
		e.Detail = strings.Join(parts, "; ")
		ev = append(ev, e)
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].At.Before(ev[j].At) })
	return ev
}

// actionsFor are the console's actions on a message in status: settle a
// check-back that gave up, re-drive a dead one.
func actionsFor(status wire.Status) []models.Action {
	switch status {
	case wire.StatusCheckExhausted:
		return []models.Action{models.Confirm, models.Cancel}
	case wire.StatusDead:
		return []models.Action{models.Redrive}
	}
	return nil
}

func (c *Console) detail(w http.ResponseWriter, r *http.Request, _ access.Identity) {
	id := r.PathValue("id")
	if models.CheckID(id) != nil {
		c.fail(w, r, http.StatusNotFound, "No message has this id.")
		return
	}
	ctx := r.Context()
	row, err := c.store.Get(ctx, id)
	if err != nil && !errors.Is(err, models.ErrNotFound) {
		c.unavailable(w, r, err)
		return
	}
	d := detailData{Message: row}
	st, err := c.messages.State(ctx, id)
	switch {
	case err == nil:
		d.Live = &st
		d.Timeline = timeline(&st)
	case errors.Is(err, models.ErrNotFound) && row == nil:
		c.fail(w, r, http.StatusNotFound, "No message has this id.")
		return
	case errors.Is(err, models.ErrNotFound):
		d.LiveErr = "Its workflow has ended and Temporal no longer keeps it: this is the mirror's final row."
	default:
		d.LiveErr = "Its workflow did not answer (is a worker running?): this is the mirror's row."
	}
	if row != nil {
		d.Payload = viewPayload(row.Payload)
	}
	status := wire.Status("")
	switch {
	case d.Live != nil:
		status = d.Live.Status
	case row != nil:
		status = row.Status
	}
	d.Actions = actionsFor(status)
	if c.cfg.TemporalUI != "" {
		d.WorkflowURL = c.cfg.TemporalUI + "/namespaces/" + url.PathEscape(c.cfg.Namespace) + "/workflows/" + url.PathEscape(contract.WorkflowID(id))
	}
	c.render(w, r, http.StatusOK, "detail.html", "Message "+id, d)
}

// auditPageSize is the audit page's size.
const auditPageSize = 50

type auditData struct {
	Entries []models.AuditEntry
	Next    string
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, _ access.Identity) {
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	entries, err := c.store.AuditLog(r.Context(), auditPageSize, before)
	if err != nil {
		c.unavailable(w, r, err)
		return
	}
	d := auditData{Entries: entries}
	if len(entries) == auditPageSize {
		d.Next = "/console/audit?before=" + strconv.FormatInt(entries[len(entries)-1].ID, 10)
	}
	c.render(w, r, http.StatusOK, "audit.html", "Audit log", d)
}

// accessData is the access page: who may call this gateway.
type accessData struct {
	Open       bool
	Identities []access.Summary
}

func (c *Console) access(w http.ResponseWriter, r *http.Request, _ access.Identity) {
	c.render(w, r, http.StatusOK, "access.html", "Access", accessData{Open: c.keys.Open(), Identities: c.keys.Identities()})
}

// unavailable answers a page whose data could not be read.
func (c *Console) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	c.logger.Warn("console: read failed", "path", r.URL.Path, "error", err)
	c.fail(w, r, http.StatusServiceUnavailable, "The message mirror is unavailable; try again shortly.")
}
