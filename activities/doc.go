// Package activities holds the side effects of a message's lifecycle, run by
// the message workflow as Temporal activities:
//
//   - CheckBack asks the producer whether its local transaction committed while
//     the message waits for a confirm (WAITING_CONFIRM).
//   - Publish writes a confirmed message to Kafka (SENDING), again for each
//     resend, and for an operator's re-drive of a DEAD message.
//   - WriteMirror applies every transition to the messages table, the
//     queryable copy of the workflow's state.
//
// Each activity decides where an error is born whether it is permanent or
// worth retrying: a permanent Kafka refusal is a non-retryable application
// error of type ErrTypePublishRejected, a check-back that learns nothing is an
// UNKNOWN answer rather than an error, and everything else is returned wrapped
// so the workflow's retry policy tries again.
package activities
