package contract

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/serviceerror"
)

// UnavailableError is a dependency of the Client (Temporal, the mirror) that
// did not answer, or not yet: the same call may succeed when retried.
type UnavailableError struct {
	// Dependency names it for the caller, e.g. "Temporal".
	Dependency string
	Err        error
}

func (e *UnavailableError) Error() string { return e.Dependency + " is unavailable: " + e.Err.Error() }

func (e *UnavailableError) Unwrap() error { return e.Err }

// isNotFound reports whether Temporal says the workflow does not exist (or,
// for a signal or an update, has closed).
func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

// temporalFailure classifies a failed Temporal call where it is born: the
// server being unreachable, overloaded or slow, or not knowing Courier's
// search attributes yet, is an *UnavailableError; anything else is returned
// wrapped, a failure that retrying will not fix, as is a call its caller
// cancelled (context.Canceled), which says nothing about Temporal.
func temporalFailure(what string, err error) error {
	var (
		unavail   *serviceerror.Unavailable
		deadline  *serviceerror.DeadlineExceeded
		exhausted *serviceerror.ResourceExhausted
		canceled  *serviceerror.Canceled
		notReady  *serviceerror.WorkflowNotReady
	)
	err = fmt.Errorf("%s: %w", what, err)
	if errors.As(err, &unavail) || errors.As(err, &deadline) || errors.As(err, &exhausted) ||
		errors.As(err, &canceled) || errors.As(err, &notReady) ||
		errors.Is(err, context.DeadlineExceeded) {
		return &UnavailableError{Dependency: "Temporal", Err: err}
	}
	if searchAttributesPending(err) {
		return &UnavailableError{Dependency: "Temporal (Courier's search attributes are not registered in the namespace yet)", Err: err}
	}
	return err
}

// searchAttributesPending reports Temporal refusing a request because the
// namespace does not know one of Courier's search attributes. The worker
// registers them when it starts, and a frontend learns of them seconds later
// (the soak's first sends against a namespace made moments before got this),
// so the request will succeed when retried. Temporal names no error type for
// it; its message is all there is.
func searchAttributesPending(err error) bool {
	var invalid *serviceerror.InvalidArgument
	if !errors.As(err, &invalid) {
		return false
	}
	msg := invalid.Error()
	if !strings.Contains(msg, "has no mapping defined for search attribute") && !strings.Contains(msg, "is not defined") {
		return false
	}
	for _, sa := range []string{SearchAttrStatus.GetName(), SearchAttrTopic.GetName(), SearchAttrProducer.GetName()} {
		if strings.Contains(msg, sa) {
			return true
		}
	}
	return false
}
