// Package bench measures Courier end to end against the ceiling Temporal sets.
//
// Courier runs one Temporal workflow per message, so Temporal's persistence
// bounds its throughput. Run drives the real lifecycle over HTTP (prepare →
// confirm, or direct send; a Kafka consumer group receives each message and
// completes it) and, in the same run and against the same Temporal server, a
// baseline of bare workflows (start → complete) at the same concurrency. The
// ratio of the two says how much of Temporal's capacity the lifecycle keeps,
// and it holds on a noisy machine where absolute rates do not. The baseline
// also runs floor workflows, which take the lifecycle's three calls (start,
// confirm update, complete update) and nothing else: floor / bare is what
// Temporal charges for Courier's protocol, lifecycle / floor what Courier's
// own work costs on top.
//
// Soak holds many messages in DELIVERED (the consumer withholds completion)
// and measures the worker's memory and the gateway's latency while they wait.
//
// The package sits beside the lifecycle, not in it: it talks to a running
// Courier only through its public HTTP API, Kafka and the Temporal client.
package bench
