// Package devstack embeds the servers `courier dev` needs so all of Courier runs
// in one process with nothing else installed: a Temporal server on SQLite, the
// Temporal Web UI, and a Kafka-protocol broker (kfake).
//
// Every server keeps its state under a data directory, so stopping `courier dev`
// and starting it again on the same directory resumes the messages in flight:
// workflows, their histories and search attributes live in SQLite files, and
// records and consumer offsets live in kfake's segment files. The Temporal
// server can keep its state in PostgreSQL instead (TemporalConfig.Postgres),
// to measure Courier against the database a production Temporal runs on.
//
// Each server has a Config with defaults for a laptop (loopback, the usual
// ports), a Start function that returns once the server answers, and a method
// that stops it. The servers are for development only: single node, no auth,
// no TLS.
package devstack
