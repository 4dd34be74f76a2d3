// Package wire is Courier's wire contract in Go: the message statuses, the
// outcomes an answer carries, the Kafka record headers Courier adds, the
// limits the gateway enforces and the JSON bodies of its HTTP API.
//
// The gateway encodes and decodes these types and the client decodes and
// encodes them, so the two cannot disagree on a field. gateway/openapi.yaml
// describes the same contract for every other language; a test in the
// server module (gateway/wire_test.go) fails when it, this package, the
// server's own declarations or the Python and TypeScript clients drift
// apart. The package links only the standard library.
package wire
