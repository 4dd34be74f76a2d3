package contract

import (
	"fmt"
	"strings"
	"time"
)

// What the Temporal Web UI shows of a message from its start: the summary it
// lists the workflow by and the details fixed at start. The workflow keeps
// its current details itself. Neither is a command argument that replay
// compares, so both may change between code versions.

// staticSummary is the one line the UI lists a message's workflow by.
func staticSummary(msg Message) string {
	s := "to " + msg.Topic
	if msg.Key != "" {
		s += ", key " + msg.Key
	}
	if msg.Producer != "" {
		s += ", from " + msg.Producer
	}
	return s
}

// staticDetails describe what the message is and how it was started.
func staticDetails(in Input) string {
	m := in.Message
	var b strings.Builder
	b.WriteString(fmt.Sprintf("**Courier message** `%s`\n\n", m.ID))
	b.WriteString(fmt.Sprintf("- topic: `%s`\n", m.Topic))
	if m.Key != "" {
		b.WriteString(fmt.Sprintf("- key: `%s`\n", m.Key))
	}
	if m.Producer != "" {
		b.WriteString(fmt.Sprintf("- producer: `%s`\n", m.Producer))
	}
	if in.Confirmed {
		b.WriteString("- sent directly (no check-back)\n")
	} else {
		b.WriteString(fmt.Sprintf("- check-back: `%s`, first after %s, at most %d\n", m.CheckURL, in.Policy.CheckDelay, in.Policy.CheckMaxAttempts))
	}
	if len(m.Consumers) > 0 {
		b.WriteString(fmt.Sprintf("- completed by each of: %s\n", strings.Join(m.Consumers, ", ")))
	}
	if m.DeliverAt != nil {
		b.WriteString(fmt.Sprintf("- deliver at %s\n", m.DeliverAt.UTC().Format(time.RFC3339)))
	}
	b.WriteString(fmt.Sprintf("- %d sends at most, then DEAD\n", len(in.Policy.ResendIntervals)))
	if id := in.Trace.TraceID(); id != "" {
		b.WriteString(fmt.Sprintf("- trace: `%s`\n", id))
	}
	return b.String()
}
