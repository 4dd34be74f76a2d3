package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/courier-mq/courier/client/wire"
)

// Error codes: the stable, machine-readable half of every error response.
// openapi.yaml lists them; clients branch on them, so they never change.
const (
	codeInvalidJSON          = "invalid_json"
	codeInvalidRequest       = "invalid_request"
	codeUnsupportedMediaType = "unsupported_media_type"
	codePayloadTooLarge      = "payload_too_large"
	codeUnauthorized         = "unauthorized"
	codeForbidden            = "forbidden"
	codeTooManyRequests      = "too_many_requests"
	codeNotFound             = "not_found"
	codeMethodNotAllowed     = "method_not_allowed"
	codeConflict             = "conflict"
	codeIDConflict           = "id_conflict"
	codeUnavailable          = "unavailable"
	codeCanceled             = "canceled"
	codeInternal             = "internal"
)

// apiError is an error classified for the client where it was born: the HTTP
// status, a stable code and a message safe to show. cause, when set, is the
// underlying failure; it is logged but never sent, since it may name internal
// hosts or tables.
type apiError struct {
	status int
	code   string
	msg    string
	cause  error
	// retryAfter, when set, is sent as Retry-After in whole seconds.
	retryAfter time.Duration
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *apiError) Unwrap() error { return e.cause }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// invalid is a 400 for a request that decoded but breaks a rule.
func invalid(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, codeInvalidRequest, format, args...)
}

// invalidJSON is a 400 for a body that is not the JSON the route expects.
func invalidJSON(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, codeInvalidJSON, format, args...)
}

// tooLarge is a 413 for a payload or body over its limit.
func tooLarge(format string, args ...any) *apiError {
	return newError(http.StatusRequestEntityTooLarge, codePayloadTooLarge, format, args...)
}

// notFound is a 404 for a message that neither the workflow nor the mirror knows.
func notFound(id string) *apiError {
	return newError(http.StatusNotFound, codeNotFound, "message %q not found", id)
}

// conflict is a 409 for a request the message's state makes impossible.
func conflict(code, format string, args ...any) *apiError {
	return newError(http.StatusConflict, code, format, args...)
}

// unavailable is a 503 for a dependency (Temporal, the mirror database) that
// did not answer; the client may retry the same request.
func unavailable(what string, cause error) *apiError {
	return &apiError{status: http.StatusServiceUnavailable, code: codeUnavailable, msg: what + " is unavailable, retry later", cause: cause}
}

// internalError is a 500 for a failure that retrying will not fix.
func internalError(what string, cause error) *apiError {
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, msg: what + " failed", cause: cause}
}

// handleError is the echo HTTPErrorHandler: the only place an error becomes a
// response. Unclassified errors are 500s whose details are logged, not sent.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	ae := classify(err)
	if r, ok := refusal(err); ok {
		s.metrics.refused.WithLabelValues(string(r.Reason)).Inc()
		if hidden := hiddenAsUnknown(c, r); hidden != nil {
			ae = hidden
		}
	}
	attrs := []any{"method", c.Request().Method, "path", c.Request().URL.Path, "status", ae.status, "code", ae.code, "error", err}
	switch {
	case ae.status == http.StatusServiceUnavailable:
		s.logger.Warn("request failed: dependency unavailable", attrs...)
	case ae.status >= http.StatusInternalServerError:
		s.logger.Error("request failed", attrs...)
	default:
		s.logger.Debug("request refused", attrs...)
	}
	if ae.status == http.StatusUnauthorized {
		c.Response().Header().Set("WWW-Authenticate", `Bearer realm="courier"`)
	}
	if ae.retryAfter > 0 {
		c.Response().Header().Set("Retry-After", strconv.Itoa(int(ae.retryAfter/time.Second)))
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(ae.status)
	} else {
		err = c.JSON(ae.status, wire.Error{Error: wire.ErrorDetail{Code: ae.code, Message: ae.msg}})
	}
	if err != nil {
		s.logger.Warn("write error response", "error", err)
	}
}

// statusClientClosedRequest is nginx's code for a request its client gave up
// on; HTTP has none.
const statusClientClosedRequest = 499

// classify maps any error to an apiError. Router errors from echo (no route,
// wrong method) get their own codes; everything unknown is internal.
func classify(err error) *apiError {
	if errors.Is(err, context.Canceled) {
		// The caller hung up (or the server is stopping): nobody reads the
		// answer, and nothing failed that an operator should look at.
		return newError(statusClientClosedRequest, codeCanceled, "the request was cancelled before it was answered")
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if r, ok := refusal(err); ok {
		if r.Unauthenticated() {
			return newError(http.StatusUnauthorized, codeUnauthorized, "%s", r.Message)
		}
		return newError(http.StatusForbidden, codeForbidden, "%s", r.Message)
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		switch he.Code {
		case http.StatusNotFound:
			return newError(http.StatusNotFound, codeNotFound, "no such route")
		case http.StatusMethodNotAllowed:
			return newError(http.StatusMethodNotAllowed, codeMethodNotAllowed, "method not allowed on this route")
		}
		if he.Code >= 400 && he.Code < 500 {
			return newError(he.Code, codeInvalidRequest, "%s", http.StatusText(he.Code))
		}
	}
	return internalError("request", err)
}
