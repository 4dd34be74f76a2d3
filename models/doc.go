// Package models is the message lifecycle's vocabulary: the statuses
// (Status), the actions asked of a message and the table deciding what each
// does in each status (Action, Decide), the mirror's row (Message) and the
// change one lifecycle step makes to it (Transition).
//
// The workflow, its activities, the store and the gateway all speak it, so it
// imports nothing but the standard library: the deterministic workflow code
// links no database through it. The struct tags on Message are how the store
// maps the row; they are text, not a dependency.
package models
