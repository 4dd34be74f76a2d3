package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/courier-mq/courier/access"
)

// callerKey is the echo context key of the request's access.Identity.
const callerKey = "courier.caller"

// presentedKey is the key a request carries: "Authorization: Bearer <key>",
// else "X-API-Key: <key>". Another Authorization scheme carries no key.
func presentedKey(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, key, ok := strings.Cut(auth, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(key)
		}
		return ""
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// authorize lets a request through when its key's identity has one of roles
// (an admin has all), and keeps the identity for the handler's own rules.
// With no keys configured every request is access.Anonymous.
//
// Wrong keys are counted by the client's address, and refusals of a valid
// key for lack of role by its identity; past access.ThrottleLimit in a
// window the address's (or identity's) requests are answered 429 before
// the key is compared. A missing key is not counted: it guesses nothing.
func (s *Server) authorize(roles ...access.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			id := access.Anonymous
			if !s.keys.Open() {
				addr := s.throttle.ClientAddress(c.Request())
				if wait, ok := s.throttle.Allow(access.ByAddress, addr); !ok {
					return tooManyRequests(wait)
				}
				var err error
				if id, err = s.keys.Find(presentedKey(c.Request())); err != nil {
					if r, ok := refusal(err); ok && r.Reason == access.BadKey {
						s.throttle.Fail(access.ByAddress, addr)
					}
					return err
				}
				if wait, ok := s.throttle.Allow(access.ByIdentity, id.Name); !ok {
					return tooManyRequests(wait)
				}
				if err := id.Require(roles...); err != nil {
					s.throttle.Fail(access.ByIdentity, id.Name)
					return err
				}
			}
			c.Set(callerKey, id)
			return next(c)
		}
	}
}

// tooManyRequests is the 429 of a throttled key check, with the wait until
// it may be tried again.
func tooManyRequests(wait time.Duration) *apiError {
	e := newError(http.StatusTooManyRequests, codeTooManyRequests, "too many refused API keys from this address or identity: retry after %d seconds", int(wait/time.Second))
	e.retryAfter = wait
	return e
}

// caller is the identity of c's request.
func caller(c echo.Context) access.Identity {
	id, _ := c.Get(callerKey).(access.Identity)
	return id
}

// owner returns who message id belongs to, for the access rules of a caller
// that is not an admin; an admin needs no lookup.
func (s *Server) owner(ctx context.Context, id string, who access.Identity) (access.Message, error) {
	if who.Is(access.Admin) {
		return access.Message{}, nil
	}
	o, err := s.messages.Owner(ctx, id)
	if err != nil {
		return access.Message{}, messageError(id, err)
	}
	return access.Message{Producer: o.Producer, Topic: o.Topic, Consumers: o.Consumers}, nil
}

// hiddenAsUnknown is the answer to r when it refuses a message the key may
// not see (access.Refusal.Hidden): the very 404 of an id that does not
// exist, so that the key cannot learn which ids do. The refusal is still
// counted and logged by its reason. Nil when r is not hidden.
func hiddenAsUnknown(c echo.Context, r *access.Refusal) *apiError {
	if !r.Hidden() {
		return nil
	}
	id, err := pathID(c)
	if err != nil { // not reached: the handler read the id before asking access
		return classify(err)
	}
	return notFound(id)
}

// refusal is err's *access.Refusal, if it is one.
func refusal(err error) (*access.Refusal, bool) {
	var r *access.Refusal
	ok := errors.As(err, &r)
	return r, ok
}
