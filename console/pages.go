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
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	Trends       trends
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
	if err == nil {
		d.Trends, err = c.readTrends(ctx, now)
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
	// Bulk are the actions on selected rows, offered when the list is
	// filtered to a status they apply to.
	Bulk []models.Action
}

type listFilter struct {
	Status, Topic, Producer, IDPrefix, Key, From, To string
}

type listRow struct {
	models.Message
	// NextAt is when the workflow acts next, from its live state; nil when
	// it does not wait or did not answer in time.
	NextAt *time.Time
}

func (c *Console) list(w http.ResponseWriter, r *http.Request, _ access.Identity) {
	q := r.URL.Query()
	lf := listFilter{Status: q.Get("status"), Topic: q.Get("topic"), Producer: q.Get("producer"), IDPrefix: q.Get("id"), Key: q.Get("key"), From: q.Get("created_from"), To: q.Get("created_to")}
	f := store.Filter{Status: wire.Status(lf.Status), Topic: lf.Topic, Producer: lf.Producer, IDPrefix: lf.IDPrefix, Key: lf.Key, Limit: listPageSize, Cursor: q.Get("cursor")}
	var problems []string
	if lf.Status != "" && !f.Status.Valid() {
		problems = append(problems, fmt.Sprintf("%q is not a status", lf.Status))
	}
	for _, check := range []struct {
		value string
		check func(string) error
	}{{lf.Topic, models.CheckTopic}, {lf.Producer, models.CheckProducer}, {lf.IDPrefix, models.CheckID}, {lf.Key, models.CheckKey}} {
		if check.value != "" {
			if err := check.check(check.value); err != nil {
				problems = append(problems, err.Error())
			}
		}
	}
	problems = append(problems, formTimes(timeField{lf.From, &f.CreatedFrom}, timeField{lf.To, &f.CreatedTo})...)
	d := listData{Filter: lf, Problems: problems, Bulk: actionsFor(f.Status)}
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
	Live    *contract.Story
	LiveErr string
	// Next says what the workflow does next and when, or that it waits
	// for an operator, or that the message is settled.
	Next string
	// Policy is the message's timing, one line per concern; empty
	// without Live.
	Policy   []string
	Payload  payloadView
	Timeline []event
	// WorkflowURL links to the workflow in the Temporal Web UI.
	WorkflowURL string
	// TraceURL links to the message's trace (Config.TraceURL).
	TraceURL string
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

// timeline merges the check-backs, publishes, signals and status changes
// of st by time. A status change comes after the record of the same time
// that caused it.
func timeline(st *contract.Story) []event {
	var ev []event
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
	for _, tr := range st.Transitions {
		e := event{At: tr.At, What: "status " + string(tr.To), Detail: tr.Why, Bad: tr.To == wire.StatusCheckExhausted || tr.To == wire.StatusDead}
		if tr.From != "" {
			e.Outcome = "from " + string(tr.From)
		}
		ev = append(ev, e)
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].At.Before(ev[j].At) })
	return ev
}

// nextLine says what the workflow of st does next and when.
func nextLine(st *contract.Story) string {
	if st.NextAt != nil {
		at := st.NextAt.UTC().Format(nextTime)
		next := st.Next
		if next == "" { // a worker of a release before Story.Next answered
			next = "acts"
		}
		if st.Status == wire.StatusDelivered {
			return fmt.Sprintf("waiting for completion until %s, then %s", at, next)
		}
		return fmt.Sprintf("%s at %s", next, at)
	}
	switch st.Status {
	case wire.StatusWaitingConfirm:
		return fmt.Sprintf("check-back %d of %d under way", st.CheckCount, st.Policy.CheckMaxAttempts)
	case wire.StatusSending:
		return fmt.Sprintf("publishing send %d", st.SendCount)
	}
	return settledLine(st.Status)
}

// settledLine says what a message in status does when it waits for nothing
// on its own: an operator's action, or nothing at all.
func settledLine(status wire.Status) string {
	switch status {
	case wire.StatusCheckExhausted:
		return "nothing on its own: waits for an operator to confirm or cancel"
	case wire.StatusDead:
		return "nothing on its own: waits for an operator to re-drive"
	case wire.StatusCompleted, wire.StatusCancelled:
		return "nothing: settled"
	}
	return ""
}

// nextTime is how the detail page shows when the workflow acts next.
const nextTime = "2006-01-02 15:04:05Z"

// policyLines describe a message's timing for its page.
func policyLines(p contract.Policy) []string {
	resends := make([]string, len(p.ResendIntervals))
	for i, d := range p.ResendIntervals {
		resends[i] = span(d)
	}
	return []string{
		fmt.Sprintf("check-back: first after %s, then ×%g up to %s apart, %d at most (each call %s at most), then CHECK_EXHAUSTED",
			span(p.CheckDelay), p.CheckBackoff, span(p.CheckMaxDelay), p.CheckMaxAttempts, span(p.CheckTimeout)),
		fmt.Sprintf("completion awaited %s after each send: %d sends at most, then DEAD",
			strings.Join(resends, ", "), len(p.ResendIntervals)),
		fmt.Sprintf("a failing publish is retried at most %s apart, until the broker takes it or rejects it", span(p.PublishMaxInterval)),
	}
}

// span is a duration without its zero tail: "5m", "1h", "1m30s".
func span(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
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
	st, err := c.messages.Story(ctx, id)
	switch {
	case err == nil:
		d.Live = &st
		d.Timeline = timeline(&st)
		d.Next = nextLine(&st)
		d.Policy = policyLines(st.Policy)
		d.TraceURL = c.cfg.traceURL(st.TraceID)
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
		d.Next = settledLine(status)
	}
	d.Actions = actionsFor(status)
	if c.cfg.TemporalUI != "" {
		d.WorkflowURL = c.cfg.TemporalUI + "/namespaces/" + url.PathEscape(c.cfg.Namespace) + "/workflows/" + url.PathEscape(contract.WorkflowID(id))
	}
	c.render(w, r, http.StatusOK, "detail.html", "Message "+id, d)
}

// auditPageSize is the audit page's size.
const auditPageSize = 50

// auditActions are the actions the audit log records, those the console
// takes, for its filter.
var auditActions = slices.Sorted(maps.Values(actions))

type auditData struct {
	Filter   auditFilter
	Actions  []models.Action
	Entries  []models.AuditEntry
	Next     string
	Problems []string
}

// auditFilter is the audit page's form, as given.
type auditFilter struct {
	By, Action, Message, From, To string
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, _ access.Identity) {
	q := r.URL.Query()
	af := auditFilter{By: q.Get("by"), Action: q.Get("action"), Message: q.Get("message"), From: q.Get("from"), To: q.Get("to")}
	f := store.AuditFilter{By: af.By, Action: models.Action(af.Action), MessageID: af.Message, Limit: auditPageSize}
	d := auditData{Filter: af, Actions: auditActions}
	if af.By != "" && utf8.RuneCountInString(af.By) > wire.MaxConsumerLen {
		d.Problems = append(d.Problems, fmt.Sprintf("an operator's name is at most %d characters", wire.MaxConsumerLen))
	}
	if af.Action != "" && !slices.Contains(auditActions, f.Action) {
		d.Problems = append(d.Problems, fmt.Sprintf("%q is not an operator's action", af.Action))
	}
	if af.Message != "" {
		if err := models.CheckID(af.Message); err != nil {
			d.Problems = append(d.Problems, err.Error())
		}
	}
	d.Problems = append(d.Problems, formTimes(timeField{af.From, &f.From}, timeField{af.To, &f.To})...)
	if v := q.Get("before"); v != "" {
		before, err := strconv.ParseInt(v, 10, 64)
		if err != nil || before < 1 {
			d.Problems = append(d.Problems, "the page link is not one this console made: start from the first page")
		}
		f.Before = before
	}
	if len(d.Problems) > 0 {
		c.render(w, r, http.StatusBadRequest, "audit.html", "Audit log", d)
		return
	}
	entries, err := c.store.AuditSearch(r.Context(), f)
	if err != nil {
		c.unavailable(w, r, err)
		return
	}
	d.Entries = entries
	if len(entries) == auditPageSize {
		next := r.URL.Query()
		next.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		d.Next = "/console/audit?" + next.Encode()
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

// timeField is a form's time input and where its parsed value goes.
type timeField struct {
	value string
	dst   *time.Time
}

// formTimes parses each non-empty field's value (formTime, UTC) into its
// dst, and returns a problem for each value that is not such a time.
func formTimes(fields ...timeField) (problems []string) {
	for _, tf := range fields {
		if tf.value == "" {
			continue
		}
		t, err := time.Parse(formTime, tf.value)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%q is not a time like 2026-01-02T15:04", tf.value))
		}
		*tf.dst = t
	}
	return problems
}
