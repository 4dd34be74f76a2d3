// Package models is the message lifecycle's server-side vocabulary: the
// actions asked of a message and the table deciding what each does in each
// status (Action, Decide), the mirror's row (Message) and the change one
// lifecycle step makes to it (Transition). The statuses themselves, like
// every name and limit a client sees, are the wire contract's
// (github.com/courier-mq/courier/client/wire), declared once for the server
// and the Go client.
//
// The workflow, its activities, the store and the gateway all speak it, so it
// imports nothing but the standard library and the wire contract (itself
// standard library only): the deterministic workflow code links no database
// through it.
package models
