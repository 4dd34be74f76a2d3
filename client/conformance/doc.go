// Package conformance is the client contract as one executable
// specification: scenarios as data (scenarios/*.json) that a runner plays
// against a client library through an adapter program speaking JSON lines
// on stdin and stdout, so that the Go client and the clients of other
// languages pass the same suite. README.md is the protocol and the
// scenario format; TestConformance runs it on SQLite, MySQL/MariaDB and
// PostgreSQL against one real `courier dev`.
package conformance
