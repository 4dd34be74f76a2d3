// Package teststack stands up a real Courier engine inside a test binary: an
// in-process Temporal server with Courier's search attributes, a kfake
// Kafka-protocol broker, a SQLite mirror, a producer's check-back endpoint, a
// Kafka consumer that records everything published, and a worker running
// MessageWorkflow with the real activities.
//
// Tests of the parts around the lifecycle (the worker, the gateway) start one
// Stack per test binary where they can, since the Temporal server takes about
// a second and a half to start, and use distinct message ids in parallel
// subtests.
package teststack
