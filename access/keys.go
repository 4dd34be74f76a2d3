package access

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/models"
)

// Role is a kind of work a key may do.
type Role string

// The roles.
const (
	// Producer prepares, sends, confirms and cancels its own messages.
	Producer Role = "producer"
	// Consumer completes messages of its topics.
	Consumer Role = "consumer"
	// Admin does everything to every message: reads, statistics, re-drives,
	// and the producers' and consumers' work.
	Admin Role = "admin"
)

func (r Role) valid() bool { return r == Producer || r == Consumer || r == Admin }

// MinSecretLen is the shortest secret a key may have. Keys are bearer
// secrets; 16 characters of a random key are out of reach of guessing.
const MinSecretLen = 16

// hashPrefix marks a configured key given by its hash.
const hashPrefix = "sha256"

// Key is one configured API key: the identity it proves and the secret, or
// better its hash.
type Key struct {
	// SHA256 is the lowercase hex SHA-256 of the secret, as Hash prints it.
	// Exactly one of SHA256 and Secret is set.
	SHA256 string
	// Secret is the key itself. Configurations should hold SHA256 instead;
	// New logs a warning for every secret in plain text.
	Secret string
	// Name is the identity: the producer name of its messages, the consumer
	// name of its completions, and the "by" of its decisions. 1-64
	// characters of [A-Za-z0-9._-]. Two keys may share a name while one
	// replaces the other; they must then agree on roles and topics.
	Name string
	// Roles are what the key may do; at least one.
	Roles []Role
	// Topics are what a producer or consumer key may use: exact topic names,
	// "prefix.*" for every topic under prefix (not prefix itself), or "*"
	// for every topic. Required for producer and consumer keys, so that no
	// key reaches every topic by accident; an admin key has every topic.
	Topics []string
}

// String describes k without its secret or hash, so printing a
// configuration is safe.
func (k Key) String() string {
	roles := make([]string, len(k.Roles))
	for i, r := range k.Roles {
		roles[i] = string(r)
	}
	s := k.Name + ":" + strings.Join(roles, "+")
	if len(k.Topics) > 0 {
		s += ":" + strings.Join(k.Topics, "+")
	}
	return s + " (key masked)"
}

// LogValue keeps the secret out of structured logs.
func (k Key) LogValue() slog.Value { return slog.StringValue(k.String()) }

// digest is the SHA-256 of k's secret; ok is false when k has neither a
// secret nor a well-formed hash.
func (k Key) digest() (d [sha256.Size]byte, ok bool) {
	if k.Secret != "" {
		return sha256.Sum256([]byte(k.Secret)), true
	}
	b, err := hex.DecodeString(k.SHA256)
	if err != nil || len(b) != sha256.Size {
		return d, false
	}
	copy(d[:], b)
	return d, true
}

// Hash is the configuration form of secret: "sha256:" and its hex SHA-256.
// A fast hash is enough: keys are long random strings, not passwords.
func Hash(secret string) string {
	d := sha256.Sum256([]byte(secret))
	return hashPrefix + ":" + hex.EncodeToString(d[:])
}

// NewSecret returns a new random key: "ck_" and 32 random bytes in URL-safe
// base64, 46 characters that fit every rule of a key.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return "ck_" + base64.RawURLEncoding.EncodeToString(b)
}

// ParseKeys parses the COURIER_API_KEYS format: comma-separated entries of
//
//	sha256:<hex>:name:roles[:topics]   (the key's hash, see Hash)
//	<secret>:name:roles[:topics]       (the key itself, for development)
//
// where roles and topics are joined by "+", e.g.
//
//	sha256:5e88…:orders:producer:orders+orders.*,sha256:9f86…:accounting:consumer:orders,sha256:2c26…:ops:admin
//
// Spaces around entries are ignored; an empty s means no keys. Errors name
// entries by position, never by secret. Validate checks the content.
func ParseKeys(s string) ([]Key, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var keys []Key
	var errs []error
	for i, entry := range strings.Split(s, ",") {
		parts := strings.Split(strings.TrimSpace(entry), ":")
		var k Key
		if parts[0] == hashPrefix && len(parts) > 1 {
			k.SHA256, parts = parts[1], parts[2:]
		} else {
			k.Secret, parts = parts[0], parts[1:]
		}
		if len(parts) != 2 && len(parts) != 3 {
			errs = append(errs, fmt.Errorf("API key entry %d: want key:name:roles[:topics] or sha256:<hex>:name:roles[:topics]", i+1))
			continue
		}
		k.Name = parts[0]
		k.Roles = splitPlus[Role](parts[1])
		if len(parts) == 3 {
			k.Topics = splitPlus[string](parts[2])
		}
		keys = append(keys, k)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return keys, nil
}

func splitPlus[T ~string](s string) []T {
	var out []T
	for _, v := range strings.Split(s, "+") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, T(v))
		}
	}
	return out
}

// Validate reports every problem with keys, one error each, naming keys by
// position and name only.
func Validate(keys []Key) error {
	var errs []error
	seen := map[[sha256.Size]byte]int{}
	byName := map[string][]int{}
	for i, k := range keys {
		what := fmt.Sprintf("API key %d (%.64q)", i+1, k.Name)
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf(what+": "+format, args...))
		}
		switch {
		case k.Secret != "" && k.SHA256 != "":
			bad("give the key or its sha256, not both")
		case k.Secret == "" && k.SHA256 == "":
			bad("the key or its sha256 is required")
		case k.Secret != "":
			if len(k.Secret) < MinSecretLen {
				bad("key must be at least %d characters", MinSecretLen)
			}
			if !printable(k.Secret) {
				bad("key must be printable ASCII without spaces, ',' or ':'")
			}
		default:
			if _, ok := k.digest(); !ok || strings.ToLower(k.SHA256) != k.SHA256 {
				bad("sha256 must be 64 lowercase hex digits, as `courier apikey hash` prints them")
			}
		}
		if d, ok := k.digest(); ok {
			if j, dup := seen[d]; dup {
				bad("the same key as API key %d", j+1)
			}
			seen[d] = i
		}
		if len(k.Name) == 0 || len(k.Name) > wire.MaxConsumerLen || !models.NameChars(k.Name, "._-") {
			bad("name must be 1-%d characters of [A-Za-z0-9._-]: it names the key's messages as their producer and its completions as their consumer", wire.MaxConsumerLen)
		} else {
			byName[k.Name] = append(byName[k.Name], i)
		}
		if len(k.Roles) == 0 {
			bad("at least one role is required")
		}
		for j, r := range k.Roles {
			if !r.valid() {
				bad("unknown role %.64q, want %s, %s or %s", r, Producer, Consumer, Admin)
			} else if slices.Contains(k.Roles[:j], r) {
				bad("role %s is given twice", r)
			}
		}
		admin := slices.Contains(k.Roles, Admin)
		switch {
		case admin && len(k.Topics) > 0:
			bad("an admin key may use every topic: leave its topics out")
		case !admin && len(k.Roles) > 0 && len(k.Topics) == 0:
			bad("a producer or consumer key needs the topics it may use: name them (orders+payments.*), or give * for every topic")
		}
		if _, err := parseTopics(k.Topics); err != nil {
			bad("%v", err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		idx := byName[name]
		if len(idx) > 2 {
			errs = append(errs, fmt.Errorf("identity %q has %d keys: at most two at once, the old and the new while one replaces the other", name, len(idx)))
			continue
		}
		if len(idx) == 2 {
			a, b := keys[idx[0]], keys[idx[1]]
			if !sameSet(a.Roles, b.Roles) || !sameSet(a.Topics, b.Topics) {
				errs = append(errs, fmt.Errorf("API keys %d and %d of identity %q must have the same roles and topics", idx[0]+1, idx[1]+1, name))
			}
		}
	}
	return errors.Join(errs...)
}

func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x21 || b > 0x7e || b == ',' || b == ':' {
			return false
		}
	}
	return true
}

func sameSet[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}
