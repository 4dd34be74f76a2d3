// Package workflows holds MessageWorkflow, the durable life of one message:
// prepare → (confirm | cancel | check-back) → send to Kafka → completion, with
// the parked states CHECK_EXHAUSTED and DEAD for operators.
//
// api.go is the contract with the rest of Courier: task queue, workflow ID,
// signal, query and search-attribute names, and the input, result, state and
// policy types. disposition.go decides what a signal does in each state; the
// gateway uses the same function to answer before it signals.
//
// The workflow is deterministic and replay-tested: histories recorded from real
// runs live in testdata/ and replay_test.go replays them. Any change to the
// workflow's commands goes behind workflow.GetVersion.
package workflows
