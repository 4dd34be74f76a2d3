// Package producer is the upstream half of Courier's reliable-message
// pattern for a Go service with a SQL database: one call runs the business
// transaction and makes its message happen exactly when the transaction
// commits, and one http.Handler answers Courier's check-back from the
// database itself.
//
// How it stays correct. Transaction prepares the message, then in the
// business transaction inserts a barrier row (message id, "committed")
// before running the business function, checks just before COMMIT that the
// row is still the transaction's own, commits, and confirms. The check-back
// handler answers from the barrier table with insert-if-absent of a
// "rolled_back" row for the message id:
//
//   - the business transaction committed: the insert finds the committed
//     row and does nothing; the answer is COMMITTED;
//   - it is still open: its uncommitted row holds the key, so the insert
//     waits until it ends (MySQL/MariaDB and PostgreSQL lock the key;
//     SQLite locks the database) and then answers as above; if the wait
//     outlasts the check-back call (or Config.CheckWait), the answer is
//     UNKNOWN and Courier asks again later, and the database stops waiting
//     too;
//   - it rolled back, or never began: the insert succeeds and the answer is
//     ROLLED_BACK. A transaction that tries to begin afterwards fails on the
//     barrier row's key and rolls back, so a ROLLED_BACK answer can never be
//     followed by a commit.
//
// No answer is ever derived from an error: a database that fails answers
// UNKNOWN, never COMMITTED or ROLLED_BACK.
//
// The library's own rule follows from the same row: it never sends a
// message whose transaction did not commit, never cancels one whose
// transaction did, and tells the caller which happened. When a transaction
// does not commit — the business function returns an error or panics, the
// context ends, COMMIT fails, or the database rolls the transaction back
// under an error the business function ignored (InnoDB does on a deadlock,
// and the statements after it then autocommit) — Transaction settles it the
// way a check-back does, by inserting the rolled_back row, and only then
// cancels the message; if another transaction with the same id committed
// meanwhile, nothing is cancelled. What Transaction returns:
//
//   - nil: committed; the message will be delivered;
//   - the business function's error, unchanged, or its panic, re-raised:
//     rolled back; the message is cancelled;
//   - ErrRolledBack: rolled back for another reason (it wraps the cause);
//     the message is cancelled;
//   - ErrCheckedBack: this message's transaction was already rolled back
//     (a check-back, or an earlier call); the business function did not run;
//   - ErrAlreadyCommitted: this message's transaction already committed in
//     an earlier call; the business function did not run again, the message
//     is confirmed; treat it as success;
//   - ErrCommitUnknown: COMMIT failed and the database could not be asked;
//     the check-back settles the message;
//   - an error wrapping the client's (client.ErrIDConflict, ...) from
//     prepare: nothing ran.
//
// Retrying Transaction is safe, with the same *client.Message or a new one
// with the same id: a message is one transaction, and a retry returns
// ErrAlreadyCommitted or ErrCheckedBack before the business function runs
// if that transaction is decided. To run the business again after a
// rollback, use a new message (an empty ID gets a new one).
//
// The barrier table lives in the business database (it must: only a row in
// the same transaction can prove the commit). Create it with Migrate or the
// DDL in Schema; its message ids compare byte for byte on every database.
// The producer deletes rows older than Config.Retention (default a week) by
// itself; a retention must outlast the longest check-back schedule of the
// producer's messages, which RetentionFloor and Transaction check.
package producer
