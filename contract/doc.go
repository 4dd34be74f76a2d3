// Package contract is how the rest of Courier talks to a message's workflow
// without running it: the task queue, workflow ID, signal, update, query and
// search-attribute names; the input, state, result and policy types; the
// pinned code versions; and Client, the typed client that starts a message,
// asks it to act and reads its state, with the one mapping of Temporal's
// errors. It links neither the workflow SDK's workflow package nor the
// activities nor the broker client, so the gateway and the console stay free
// of them. The workflow itself is package workflows.
package contract
