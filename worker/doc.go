// Package worker runs Courier's Temporal worker: it registers MessageWorkflow
// and the activities on the task queue, and drains in-flight activities on
// shutdown so that a deploy does not turn every running publish into a retry.
package worker
