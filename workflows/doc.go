// Package workflows holds MessageWorkflow, the durable life of one message:
// prepare → (confirm | cancel | check-back) → send to Kafka → completion, with
// the parked states CHECK_EXHAUSTED and DEAD for operators.
//
// api.go is the contract with the rest of Courier: task queue, workflow ID,
// signal, query and search-attribute names, and the input, result, state and
// policy types. What a signal does in each state is models.Decide, the table
// the workflow applies and anything predicting it shares.
//
// The workflow is deterministic and replay-tested: histories recorded from real
// runs live in testdata/ and replay_test.go replays them. Any change to the
// workflow's commands goes behind workflow.GetVersion.
package workflows
