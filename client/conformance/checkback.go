package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// check calls the adapter's check-back handler for st's message, as
// Courier does: with st.As it runs in the background and await_check
// collects it, else its answer must be one of st.Answer.
func (r *run) check(st Step) error {
	id, err := r.messageOf(st)
	if err != nil {
		return err
	}
	a, err := r.adapter(st.Adapter)
	if err != nil {
		return err
	}
	timeout := 30 * time.Second
	if st.TimeoutMS > 0 {
		timeout = time.Duration(st.TimeoutMS) * time.Millisecond
	}
	url := a.opened.CheckURL
	ch := make(chan string, 1)
	go func() {
		status := checkBack(url, id, timeout)
		r.mu.Lock()
		r.answers = append(r.answers, answer{msgID: id, status: status})
		r.mu.Unlock()
		ch <- status
	}()
	if st.As != "" {
		r.mu.Lock()
		r.checks[st.As] = ch
		r.mu.Unlock()
		return nil
	}
	return expectAnswer(id, <-ch, st.Answer)
}

func (r *run) awaitCheck(st Step) error {
	ch, err := named(r, r.checks, "check", st.As)
	if err != nil {
		return err
	}
	return expectAnswer(st.As, <-ch, st.Answer)
}

func expectAnswer(what, status string, want oneOf) error {
	if !want.allows(status) {
		return fmt.Errorf("check-back of %s answered %s, want %v", what, status, []string(want))
	}
	return nil
}

// checkBack makes Courier's check-back call and returns the status as
// Courier reads it: COMMITTED or ROLLED_BACK only from a 2xx with that
// exact status, UNKNOWN for anything else, a timeout included.
func checkBack(url, id string, timeout time.Duration) string {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"message_id": id, "attempt": 1})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "UNKNOWN"
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Courier-Message-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "UNKNOWN"
	}
	defer resp.Body.Close()
	var a struct {
		Status string `json:"status"`
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode/100 != 2 || json.Unmarshal(raw, &a) != nil {
		return "UNKNOWN"
	}
	if a.Status == "COMMITTED" || a.Status == "ROLLED_BACK" {
		return a.Status
	}
	return "UNKNOWN"
}
