// Package producer is the upstream half of Courier's reliable-message
// pattern for a Go service with a SQL database: one call runs the business
// transaction and makes its message happen exactly when the transaction
// commits, and one http.Handler answers Courier's check-back from the
// database itself.
//
// How it stays correct. Transaction prepares the message, then in the
// business transaction inserts a barrier row (message id, "committed")
// before running the business function, commits, and confirms. The
// check-back handler answers from the barrier table with insert-if-absent
// of a "rolled_back" row for the message id:
//
//   - the business transaction committed: the insert finds the committed
//     row and does nothing; the answer is COMMITTED;
//   - it is still open: its uncommitted row holds the key, so the insert
//     waits until it ends (MySQL/MariaDB and PostgreSQL lock the key;
//     SQLite locks the database) and then answers as above; if the wait
//     outlasts the check-back call, the answer is UNKNOWN and Courier asks
//     again later;
//   - it rolled back, or never began: the insert succeeds and the answer is
//     ROLLED_BACK. A transaction that tries to begin afterwards fails on the
//     barrier row's key and rolls back, so a ROLLED_BACK answer can never be
//     followed by a commit.
//
// No answer is ever derived from an error: a database that fails answers
// UNKNOWN, never COMMITTED or ROLLED_BACK.
//
// The barrier table lives in the business database (it must: only a row in
// the same transaction can prove the commit). Create it with Migrate or the
// DDL in Schema; delete old rows with Cleanup, after the retention, which
// must outlast the longest check-back schedule of the producer's messages.
package producer
