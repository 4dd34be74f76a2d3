// Package models holds the message lifecycle's vocabulary (Status, Message,
// Transition) and the store of the messages table.
//
// Every message is one Temporal workflow, and the workflow is the source of
// truth. The messages table is its queryable mirror: the mirror activity writes
// the full row once (Store.Insert) when the workflow starts and then one
// Transition per lifecycle step (Store.Apply), each carrying the workflow's
// revision. Because activities are retried and may run out of order, both writes
// are idempotent and Apply never lets an older revision overwrite a newer one.
// The HTTP API and the metrics read the mirror (Store.Get, Store.List,
// Store.CountByStatus) instead of querying every workflow.
//
// The store runs on MySQL/MariaDB for production and on SQLite (pure Go, no cgo)
// for single-node setups and tests. The schema is created by Store.Migrate from
// explicit, versioned DDL per database, never by GORM's AutoMigrate.
package models
