// Package workflows holds MessageWorkflow, the durable life of one message:
// prepare → (confirm | cancel | check-back) → send to Kafka → completion, with
// the parked states CHECK_EXHAUSTED and DEAD for operators.
//
// Its contract with the rest of Courier (task queue, workflow ID, signal,
// query and search-attribute names, the input, result, state and policy
// types, and the typed client) is package contract, which links neither this
// package nor the activities, so callers of the contract do not link the
// workflow SDK or the broker client. What a signal does in each state is
// models.Decide, the table the workflow applies and anything predicting it
// shares.
//
// The workflow is deterministic and replay-tested: histories recorded from real
// runs live in testdata/ and replay_test.go replays them. Any change to the
// workflow's commands goes behind a new code version (versions.go).
package workflows
