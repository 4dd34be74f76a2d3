// Package store is the messages table, the queryable mirror of the message
// workflows, on MySQL/MariaDB through GORM for production and on SQLite (pure
// Go, no cgo) for single-node setups and tests.
//
// Every message is one Temporal workflow, and the workflow is the source of
// truth. The mirror activity writes the full row once (Store.Insert) when the
// workflow starts and then one models.Transition per lifecycle step
// (Store.Apply), each carrying the workflow's revision. Because activities are
// retried and may run out of order, both writes are idempotent and Apply never
// lets an older revision overwrite a newer one. The HTTP API and the metrics
// read the mirror (Store.Get, Store.List, Store.CountByStatus) instead of
// querying every workflow. The console's trends read per-minute flows from
// the rows' times (Store.FlowsPerMinute) and the backlog's history from
// trend_samples, which every gateway writes a minute at a time
// (Store.SampleMinute).
//
// The schema is created by Store.Migrate from explicit, versioned DDL per
// database, never by GORM's AutoMigrate.
package store
