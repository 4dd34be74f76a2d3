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
// so bad input gets a 4xx and never leaves a half-created message behind. It
// speaks HTTP only: each handler decodes, authorises, calls the operations
// it shares with the console (package operations: asking a message to act,
// re-driving, reading one message) or the contract client (contract.Client,
// which starts workflows) and encodes the answer: applied and repeated 200,
// accepted 202, rejected 409. Reads come from the mirror table
// (store.Store), falling back to the workflow while the mirror catches up.
//
// Errors are classified where they are born (apiError, with an HTTP status and
// a stable code) and written in exactly one place, the echo HTTPErrorHandler,
// as {"error":{"code":"...","message":"..."}}. openapi.yaml documents every
// route, body and error; a test proves it lists exactly the routes served.
package gateway
