// Package operations is what the HTTP API (package gateway) and the operator
// console (package console) do to messages, done once for both: ask a
// message's workflow to act, record an operator's action in the audit log,
// re-drive the DEAD messages of a topic, and read one message.
//
// It knows nothing of HTTP or HTML. Who may do what is decided before a
// transport calls it (package access); how its answers and errors are shown
// is the transport's. Each operation decides which of its failures are the
// workflow's answer (a rejected action), which are the caller's (an unknown
// message, models.ErrNotFound) and which may pass on a retry
// (*contract.UnavailableError).
package operations
