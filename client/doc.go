// Package client is a typed Go client for Courier's HTTP API: every route of
// the gateway (prepare, send, confirm, cancel, complete, redrive, get, list,
// stats), with API-key authentication, a timeout per attempt, retries with
// backoff, and the API's error codes as Go errors to test with errors.Is.
//
// Every call is safe to retry: prepare and send carry the message's id (the
// client makes one when the message has none), and Courier answers a repeated
// request with the same outcome. So the client retries every call whose
// outcome is unknown or was refused for now: a connection failure, a timeout,
// HTTP 429, 502, 503 and 504. A refusal (4xx) or an internal error (500) is
// returned at once.
//
// The module imports only the standard library (this package), sarama (the
// consumer package) and GORM (the gormproducer package), so a service that
// uses it links neither Temporal nor anything else of Courier's server.
package client
