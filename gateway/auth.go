package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"
)

// Role is what an API key may do.
type Role string

// The roles. Admin may do everything.
const (
	// RoleProducer prepares, sends, confirms and cancels messages.
	RoleProducer Role = "producer"
	// RoleConsumer completes messages.
	RoleConsumer Role = "consumer"
	// RoleAdmin does everything, including re-drives, reads and statistics.
	RoleAdmin Role = "admin"
)

// valid reports whether r is one of the roles.
func (r Role) valid() bool { return r == RoleProducer || r == RoleConsumer || r == RoleAdmin }

// MinAPIKeyLen is the shortest API key Validate accepts. Keys are bearer
// secrets; 16 characters of a random key are out of reach of guessing.
const MinAPIKeyLen = 16

// APIKey is one caller's credential. Callers send Key as
// "Authorization: Bearer <key>" or "X-API-Key: <key>".
type APIKey struct {
	// Key is the secret: at least MinAPIKeyLen printable ASCII characters,
	// without spaces, ',' or ':'.
	Key string
	// Name identifies the caller in logs and in the "by" of its decisions:
	// 1-64 characters of [A-Za-z0-9._-].
	Name string
	// Roles are what the key may do; at least one.
	Roles []Role
}

// String describes k without its secret, so printing a Config is safe.
func (k APIKey) String() string {
	roles := make([]string, len(k.Roles))
	for i, r := range k.Roles {
		roles[i] = string(r)
	}
	return k.Name + ":" + strings.Join(roles, "+") + " (key masked)"
}

// LogValue keeps the secret out of structured logs.
func (k APIKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// ParseAPIKeys parses the COURIER_API_KEYS format: comma-separated entries of
// key:name:roles, where roles are joined by "+", e.g.
//
//	k3y-0f-the-orders-svc:orders:producer,k3y-0f-accounting:accounting:consumer,k3y-0f-the-ops-team:ops:admin
//
// Spaces around entries are ignored. An empty s means no keys. Errors name
// entries by position and name, never by key. Config.Validate checks the keys'
// content.
func ParseAPIKeys(s string) ([]APIKey, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var keys []APIKey
	var errs []error
	for i, entry := range strings.Split(s, ",") {
		entry = strings.TrimSpace(entry)
		parts := strings.Split(entry, ":")
		if len(parts) != 3 {
			errs = append(errs, fmt.Errorf("API key entry %d: want key:name:roles, got %d colon-separated fields", i+1, len(parts)))
			continue
		}
		k := APIKey{Key: parts[0], Name: parts[1]}
		for _, r := range strings.Split(parts[2], "+") {
			k.Roles = append(k.Roles, Role(strings.TrimSpace(r)))
		}
		keys = append(keys, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return keys, nil
}

// validateAPIKeys reports every problem with keys, naming keys by position
// and name only.
func validateAPIKeys(keys []APIKey) []error {
	var errs []error
	seenKeys := map[string]bool{}
	seenNames := map[string]bool{}
	for i, k := range keys {
		what := fmt.Sprintf("API key %d (%q)", i+1, clip(k.Name))
		if len(k.Key) < MinAPIKeyLen {
			errs = append(errs, fmt.Errorf("%s: key must be at least %d characters", what, MinAPIKeyLen))
		}
		for j := 0; j < len(k.Key); j++ {
			if b := k.Key[j]; b < 0x21 || b > 0x7e || b == ',' || b == ':' {
				errs = append(errs, fmt.Errorf("%s: key must be printable ASCII without spaces, ',' or ':'", what))
				break
			}
		}
		if seenKeys[k.Key] {
			errs = append(errs, fmt.Errorf("%s: key is used by an earlier entry", what))
		}
		seenKeys[k.Key] = true
		if len(k.Name) == 0 || len(k.Name) > 64 || !nameChars(k.Name, "._-") {
			errs = append(errs, fmt.Errorf("%s: name must be 1-64 characters of [A-Za-z0-9._-]", what))
		} else if seenNames[k.Name] {
			errs = append(errs, fmt.Errorf("%s: name is used by an earlier entry", what))
		}
		seenNames[k.Name] = true
		if len(k.Roles) == 0 {
			errs = append(errs, fmt.Errorf("%s: at least one role is required", what))
		}
		for _, r := range k.Roles {
			if !r.valid() {
				errs = append(errs, fmt.Errorf("%s: unknown role %q, want %s, %s or %s", what, clip(string(r)), RoleProducer, RoleConsumer, RoleAdmin))
			}
		}
	}
	return errs
}

// keyring checks presented keys against the configured ones. It holds SHA-256
// digests, so every comparison is of equal length and constant time, and
// compares against every key so the time taken does not tell which matched.
type keyring struct {
	keys []storedKey
}

type storedKey struct {
	digest [sha256.Size]byte
	name   string
	roles  []Role
}

func newKeyring(keys []APIKey) keyring {
	var kr keyring
	for _, k := range keys {
		kr.keys = append(kr.keys, storedKey{digest: sha256.Sum256([]byte(k.Key)), name: k.Name, roles: slices.Clone(k.Roles)})
	}
	return kr
}

// open reports whether no keys are configured.
func (kr keyring) open() bool { return len(kr.keys) == 0 }

// find returns the key matching presented, or nil.
func (kr keyring) find(presented string) *storedKey {
	d := sha256.Sum256([]byte(presented))
	var found *storedKey
	for i := range kr.keys {
		if subtle.ConstantTimeCompare(d[:], kr.keys[i].digest[:]) == 1 {
			found = &kr.keys[i]
		}
	}
	return found
}

// callerKey is the echo context key of the authenticated caller's name.
const callerKey = "courier.caller"

// presentedKey is the key a request carries: "Authorization: Bearer <key>",
// else "X-API-Key: <key>".
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

// authorize lets a request through when its key has one of roles or admin.
// With no keys configured every request passes as "anonymous".
func (s *Server) authorize(roles ...Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if s.keys.open() {
				c.Set(callerKey, "anonymous")
				return next(c)
			}
			presented := presentedKey(c.Request())
			if presented == "" {
				return newError(http.StatusUnauthorized, codeUnauthorized, "an API key is required: send Authorization: Bearer <key>")
			}
			k := s.keys.find(presented)
			if k == nil {
				return newError(http.StatusUnauthorized, codeUnauthorized, "the API key is not valid")
			}
			if !slices.Contains(k.roles, RoleAdmin) && !slices.ContainsFunc(roles, func(r Role) bool { return slices.Contains(k.roles, r) }) {
				return newError(http.StatusForbidden, codeForbidden, "API key %q may not do this; it needs role %s", k.name, rolesText(roles))
			}
			c.Set(callerKey, k.name)
			return next(c)
		}
	}
}

// rolesText lists roles for an error message; admin always qualifies.
func rolesText(roles []Role) string {
	names := make([]string, 0, len(roles)+1)
	for _, r := range roles {
		names = append(names, string(r))
	}
	if !slices.Contains(roles, RoleAdmin) {
		names = append(names, string(RoleAdmin))
	}
	return strings.Join(names, " or ")
}

// caller is the name of the authenticated caller of c.
func caller(c echo.Context) string {
	name, _ := c.Get(callerKey).(string)
	return name
}
