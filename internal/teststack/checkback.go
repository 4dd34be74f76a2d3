package teststack

import (
	"encoding/json"
	"net/http"
	"sync"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/models"
)

// CheckBack is a producer's check-back endpoint. It answers each message with
// the answer set by Answer, and UNKNOWN for every other message, so a message
// nobody decides goes through every check-back to CHECK_EXHAUSTED.
type CheckBack struct {
	// URL is where the endpoint listens; give it as a message's check URL.
	URL string

	answers sync.Map // message id -> models.CheckAnswer
}

func newCheckBack() *CheckBack { return &CheckBack{} }

// Answer makes the endpoint answer check-backs of message id with a.
func (c *CheckBack) Answer(id string, a models.CheckAnswer) { c.answers.Store(id, a) }

// ServeHTTP answers one check-back call.
func (c *CheckBack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req activities.CheckRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer := models.CheckUnknown
	if v, ok := c.answers.Load(req.MessageID); ok {
		answer = v.(models.CheckAnswer)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(activities.CheckResponse{Status: string(answer)})
}
