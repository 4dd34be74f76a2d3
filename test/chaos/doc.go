// Package chaos is Courier's fault-tolerance suite: it runs the real system
// and breaks its parts on purpose while messages flow, then checks that every
// message still ends where its lifecycle says.
//
// A Stack is the whole system with a fault handle on every part: an
// in-process Temporal server on SQLite files that can be stopped and started
// again on the same data directory; a kfake Kafka broker on a data directory,
// restartable; the mirror in MariaDB/MySQL (SQLite where none answers); the
// producer's check-back endpoint; the gateway over real HTTP; the worker as a
// separate OS process (the built `courier worker` binary) that is killed with
// SIGKILL; and a downstream consumer that dedupes by message id and completes
// through the gateway. Every connection Courier makes to Kafka, MySQL and the
// check-back endpoint passes through a Proxy the test switches between pass,
// delay, cut, reset and black-hole. NewDevStack's Stack is `courier dev`, the
// whole embedded stack in one OS process, killed with SIGKILL and started
// again on its data directory.
//
// Each scenario (chaos_test.go) sends a mix of messages — confirmed,
// cancelled, left to the check-back with each answer, sent directly, delayed
// — while its faults run, waits for every message to settle, and checks the
// invariants: a committed message reached Kafka with its headers and is
// COMPLETED (DEAD only if the downstream never completes it); nothing
// uncommitted ever reached Kafka; nothing is stuck; the mirror agrees with
// the workflow; the topic, read back whole by a new consumer group and by
// kcat, holds every committed message and nothing else, every record the
// consumer received still at its offset, offsets strictly increasing. The
// run ends with a summary table.
//
// `go test ./test/chaos` runs 500 messages per scenario with 10 s outages;
// -long (or COURIER_CHAOS_LONG=1) runs 2000 with the 30 s outages, and
// COURIER_CHAOS_MESSAGES sets the count. -short skips the scenarios.
package chaos
