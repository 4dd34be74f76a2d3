// Package gateway is Courier's HTTP API: the versioned JSON API under /v1 that
// upstream producers and downstream consumers call, plus the operational
// endpoints /healthz, /readyz, /metrics and /openapi.yaml.
//
// Its place in the lifecycle: a producer prepares a message (POST
// /v1/messages), which starts the message's workflow, and later confirms or
// cancels it; a producer without a local transaction sends directly (POST
// /v1/messages/send); consumers complete a delivered message; operators read
// the mirror, re-drive DEAD messages and watch the statistics.
//
// The gateway validates every request completely before it starts a workflow,
// so bad input gets a 4xx and never leaves a half-created message behind.
// Confirm, cancel, complete and redrive go to the workflow as updates, which
// the workflow decides with models.Decide and answers: applied and repeated
// requests get 200, rejected ones 409. When no worker answers in time, the
// gateway decides with the same function and signals instead. The state it
// then decides on comes from the workflow's description (the status search
// attribute and the consumers memo), which needs no worker; an answer other
// than applied from it, and a complete of a message with named consumers, is
// checked with the workflow's state query. Reads come from the mirror table
// (store.Store), falling back to the workflow's state query while the mirror
// catches up.
//
// Errors are classified where they are born (apiError, with an HTTP status and
// a stable code) and written in exactly one place, the echo HTTPErrorHandler,
// as {"error":{"code":"...","message":"..."}}. openapi.yaml documents every
// route, body and error; a test proves it lists exactly the routes served.
package gateway
