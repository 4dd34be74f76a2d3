package client

import (
	"errors"
	"fmt"
)

// The API's error codes as errors. An *Error matches the one its code names:
// errors.Is(err, client.ErrConflict).
var (
	// ErrInvalid: the request broke a rule (invalid_request, invalid_json,
	// unsupported_media_type). Fix the request; retrying cannot help.
	ErrInvalid = errors.New("courier: invalid request")
	// ErrPayloadTooLarge: the payload or body is over the gateway's limit.
	ErrPayloadTooLarge = errors.New("courier: payload too large")
	// ErrUnauthorized: no API key, or one the gateway does not know.
	ErrUnauthorized = errors.New("courier: unauthorized")
	// ErrForbidden: the key may not do this: the route needs another role,
	// the topic is not among the key's topics, the message is another
	// producer's (or names other consumers), or the request names another
	// producer or consumer than the key's own identity.
	ErrForbidden = errors.New("courier: forbidden")
	// ErrNotFound: no message has the id.
	ErrNotFound = errors.New("courier: not found")
	// ErrConflict: the message's state makes the request impossible
	// (confirm after cancel, complete before it was sent, ...).
	ErrConflict = errors.New("courier: conflict")
	// ErrIDConflict: a message with the id exists with different content.
	ErrIDConflict = errors.New("courier: id conflict")
	// ErrUnavailable: Courier or one of its dependencies did not answer,
	// after every retry.
	ErrUnavailable = errors.New("courier: unavailable")
	// ErrInternal: the gateway failed in a way retrying will not fix.
	ErrInternal = errors.New("courier: internal error")
)

// codes maps the API's error codes to the errors above.
var codes = map[string]error{
	"invalid_request":        ErrInvalid,
	"invalid_json":           ErrInvalid,
	"unsupported_media_type": ErrInvalid,
	"payload_too_large":      ErrPayloadTooLarge,
	"unauthorized":           ErrUnauthorized,
	"forbidden":              ErrForbidden,
	"not_found":              ErrNotFound,
	"method_not_allowed":     ErrInvalid,
	"conflict":               ErrConflict,
	"id_conflict":            ErrIDConflict,
	"unavailable":            ErrUnavailable,
	"internal":               ErrInternal,
}

// Error is an error answer of the gateway.
type Error struct {
	// Op is the call, e.g. "POST /v1/messages/m-1/confirm".
	Op string
	// Status is the HTTP status; 0 when no answer came.
	Status int
	// Code is the API's error code ("conflict", ...); empty when the body
	// had none.
	Code string
	// Message is the gateway's explanation.
	Message string
	// Err is the cause when no answer came (a connection error).
	Err error
}

func (e *Error) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("courier: %s: %v", e.Op, e.Err)
	}
	if e.Code == "" {
		return fmt.Sprintf("courier: %s: HTTP %d: %s", e.Op, e.Status, e.Message)
	}
	return fmt.Sprintf("courier: %s: HTTP %d %s: %s", e.Op, e.Status, e.Code, e.Message)
}

// Is matches the error its code names; an answer without a known code
// matches by its HTTP status class, and no answer matches ErrUnavailable.
func (e *Error) Is(target error) bool {
	if known, ok := codes[e.Code]; ok {
		return known == target
	}
	switch {
	case e.Status == 0, e.Status == 429, e.Status == 502, e.Status == 503, e.Status == 504:
		return target == ErrUnavailable
	case e.Status >= 500:
		return target == ErrInternal
	case e.Status == 404:
		return target == ErrNotFound
	case e.Status >= 400:
		return target == ErrInvalid
	}
	return false
}

func (e *Error) Unwrap() error { return e.Err }

// retryable reports whether the call's outcome is unknown or refused for now.
func (e *Error) retryable() bool { return errors.Is(e, ErrUnavailable) }
