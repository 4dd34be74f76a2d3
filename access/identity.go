package access

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Identity is who a request comes from.
type Identity struct {
	// Name is the identity's name, "anonymous" on an open gateway.
	Name   string
	roles  []Role
	topic  topics
	grants []string
}

// Anonymous is every caller of a gateway without keys: an admin, so that a
// development stack works as before. The gateway warns that it is open.
var Anonymous = Identity{Name: "anonymous", roles: []Role{Admin}}

// Is reports whether id has role r; an admin has every role.
func (id Identity) Is(r Role) bool {
	return slices.Contains(id.roles, Admin) || slices.Contains(id.roles, r)
}

// Roles are id's roles as configured.
func (id Identity) Roles() []Role { return slices.Clone(id.roles) }

// Keyring finds the identity of a presented key. It is safe for concurrent
// use.
type Keyring struct {
	keys []ringKey
}

type ringKey struct {
	digest      [sha256.Size]byte
	fingerprint [sha256.Size]byte
	id          Identity
}

// NewKeyring checks keys (see Validate) and returns their keyring. Without
// keys it is open: Find is never asked.
func NewKeyring(keys []Key) (*Keyring, error) {
	if err := Validate(keys); err != nil {
		return nil, err
	}
	kr := &Keyring{}
	for _, k := range keys {
		d, _ := k.digest()
		t, _ := parseTopics(k.Topics)
		kr.keys = append(kr.keys, ringKey{digest: d, fingerprint: fingerprint(d), id: Identity{Name: k.Name, roles: slices.Clone(k.Roles), topic: t, grants: slices.Clone(k.Topics)}})
	}
	return kr, nil
}

// Summary describes one identity for operators: never its keys, only how
// many it has (two while one replaces the other).
type Summary struct {
	Name   string
	Roles  []Role
	Topics []string
	Keys   int
}

// Identities summarises the configured identities, by name.
func (kr *Keyring) Identities() []Summary {
	index := map[string]int{}
	var out []Summary
	for _, k := range kr.keys {
		if i, ok := index[k.id.Name]; ok {
			out[i].Keys++
			continue
		}
		index[k.id.Name] = len(out)
		out = append(out, Summary{Name: k.id.Name, Roles: slices.Clone(k.id.roles), Topics: slices.Clone(k.id.grants), Keys: 1})
	}
	slices.SortFunc(out, func(a, b Summary) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Open reports whether no keys are configured.
func (kr *Keyring) Open() bool { return len(kr.keys) == 0 }

// Find returns the identity of the presented key: a *Refusal with
// NoKey for an empty one and BadKey for one that is not configured. It
// compares digests in constant time against every key, so the time taken
// does not tell which matched.
func (kr *Keyring) Find(presented string) (Identity, error) {
	if presented == "" {
		return Identity{}, &Refusal{Reason: NoKey, Message: "an API key is required: send Authorization: Bearer <key>"}
	}
	d := sha256.Sum256([]byte(presented))
	found := -1
	for i := range kr.keys {
		if subtle.ConstantTimeCompare(d[:], kr.keys[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Identity{}, &Refusal{Reason: BadKey, Message: "the API key is not valid"}
	}
	return kr.keys[found].id, nil
}

// fingerprintDomain separates key fingerprints from every other hash of a
// key's digest.
const fingerprintDomain = "courier-key-fingerprint|"

// fingerprint is the fingerprint of the key whose SHA-256 is d.
func fingerprint(d [sha256.Size]byte) [sha256.Size]byte {
	return sha256.Sum256([]byte(fingerprintDomain + hex.EncodeToString(d[:])))
}

// Fingerprint names the key presented without being it: the hex SHA-256 of
// a domain-separated string over the key's SHA-256. It lets a server-side
// record (a console session) say which key it was made with, so that it
// ends when that key is removed, while holding nothing that opens the
// gateway: neither the key nor the hash a configuration holds can be
// recovered from it.
func Fingerprint(presented string) string {
	fp := fingerprint(sha256.Sum256([]byte(presented)))
	return hex.EncodeToString(fp[:])
}

// FindFingerprint returns the identity of the configured key whose
// Fingerprint is fp, or a *Refusal with BadKey when no configured key has
// it (it was removed). Like Find, it compares against every key in
// constant time.
func (kr *Keyring) FindFingerprint(fp string) (Identity, error) {
	b, err := hex.DecodeString(fp)
	found := -1
	if err == nil && len(b) == sha256.Size {
		for i := range kr.keys {
			if subtle.ConstantTimeCompare(b, kr.keys[i].fingerprint[:]) == 1 {
				found = i
			}
		}
	}
	if found < 0 {
		return Identity{}, &Refusal{Reason: BadKey, Message: "the API key is no longer configured"}
	}
	return kr.keys[found].id, nil
}

// Reason is why a request was refused: the label of the gateway's refused
// requests metric.
type Reason string

// The reasons.
const (
	// NoKey: a keyed gateway got no key (401).
	NoKey Reason = "no_key"
	// BadKey: the key is not one of the configured ones (401).
	BadKey Reason = "bad_key"
	// NoRole: the key's roles do not include the route's (403).
	NoRole Reason = "role"
	// NoTopic: the message's topic is not among the key's topics (403 for
	// a topic the key names; 404, as an unknown id, for the topic of a
	// message it may not see: see Refusal.Hidden).
	NoTopic Reason = "topic"
	// NotOwner: the message belongs to another producer, or names its
	// consumers and this key is not one of them (404, as an unknown id:
	// see Refusal.Hidden).
	NotOwner Reason = "owner"
	// OtherName: the request names a producer or consumer other than the
	// key's own identity (403).
	OtherName Reason = "identity"
)

// Refusal is a request access refuses.
type Refusal struct {
	Reason  Reason
	Message string
	// hidden: see Hidden.
	hidden bool
}

func (r *Refusal) Error() string { return r.Message }

// Hidden reports whether the refusal is about one message the key may not
// see: another producer's, one of a topic it does not consume, one naming
// other consumers. The caller answers it exactly as for an id that does not
// exist, so that a key cannot learn which ids do. A refusal the key gets
// whatever the message (its role, a topic it produces to, a name it claims)
// is not hidden: it tells nothing about other teams' messages.
func (r *Refusal) Hidden() bool { return r.hidden }

// Unauthenticated reports whether the refusal is for a missing or unknown
// key (401) rather than for what a known key asked (403).
func (r *Refusal) Unauthenticated() bool { return r.Reason == NoKey || r.Reason == BadKey }

func refuse(reason Reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// hide marks a refusal about one message the key may not see (see Hidden).
func hide(r *Refusal) *Refusal {
	r.hidden = true
	return r
}

// Require refuses id unless it has one of roles (or is an admin).
func (id Identity) Require(roles ...Role) error {
	if slices.ContainsFunc(roles, id.Is) {
		return nil
	}
	names := make([]string, 0, len(roles)+1)
	for _, r := range roles {
		names = append(names, string(r))
	}
	if !slices.Contains(roles, Admin) {
		names = append(names, string(Admin))
	}
	return refuse(NoRole, "API key %q may not do this: it needs role %s", id.Name, strings.Join(names, " or "))
}

// Message is what the rules need to know of a message: who prepared it, its
// topic and the consumers it names. All three are fixed when it is prepared.
type Message struct {
	// Producer is empty for a message prepared on an open gateway, or
	// before producers were identities, without a producer name.
	Producer  string
	Topic     string
	Consumers []string
}

// Produce decides a prepare or send to topic whose body names producer
// claimed (or nothing), and returns the producer name the message records:
// the key's own name. A producer key may use only its topics and its own
// name; an admin may name any producer, or none.
func (id Identity) Produce(topic, claimed string) (string, error) {
	if err := id.Require(Producer); err != nil {
		return "", err
	}
	if id.Is(Admin) {
		return claimed, nil
	}
	if claimed != "" && claimed != id.Name {
		return "", refuse(OtherName, "API key %q produces as %q: the body may not name producer %.64q", id.Name, id.Name, claimed)
	}
	if !id.topic.allow(topic) {
		return "", refuse(NoTopic, "API key %q may not produce to topic %.64q", id.Name, topic)
	}
	return id.Name, nil
}

// Decide decides a confirm or cancel of m: only by its producer, or an
// admin. A message without a producer (prepared before producers were
// identities) may be decided by any producer granted its topic.
func (id Identity) Decide(m Message) error {
	if err := id.Require(Producer); err != nil {
		return err
	}
	if id.Is(Admin) || m.Producer == id.Name {
		return nil
	}
	if m.Producer == "" && id.topic.allow(m.Topic) {
		return nil
	}
	return hide(refuse(NotOwner, "API key %q may not decide this message: it was prepared by another producer", id.Name))
}

// Complete decides a complete of m whose body names consumer claimed (or
// nothing), and returns the consumer name the completion records: the
// key's own name. A consumer key completes only messages of its topics, and
// of those that name their consumers, only the ones naming it; an admin may
// complete as any consumer. The message is decided first, so that a key
// refused a message it may not see learns nothing of it from the claim.
func (id Identity) Complete(m Message, claimed string) (string, error) {
	if err := id.Require(Consumer); err != nil {
		return "", err
	}
	if id.Is(Admin) {
		return claimed, nil
	}
	if err := id.consumes(m); err != nil {
		return "", err
	}
	if claimed != "" && claimed != id.Name {
		return "", refuse(OtherName, "API key %q completes as %q: the body may not name consumer %.64q", id.Name, id.Name, claimed)
	}
	return id.Name, nil
}

// consumes refuses, hidden, a consumer key m is not for.
func (id Identity) consumes(m Message) error {
	if !id.topic.allow(m.Topic) {
		return hide(refuse(NoTopic, "API key %q may not consume topic %.64q", id.Name, m.Topic))
	}
	if len(m.Consumers) > 0 && !slices.Contains(m.Consumers, id.Name) {
		return hide(refuse(NotOwner, "API key %q is not one of the consumers this message names", id.Name))
	}
	return nil
}

// Read decides a read of one message: an admin reads every message, a
// producer its own, a consumer those it may complete.
func (id Identity) Read(m Message) error {
	if id.Is(Admin) {
		return nil
	}
	if id.Is(Producer) && m.Producer == id.Name {
		return nil
	}
	if id.Is(Consumer) && id.consumes(m) == nil {
		return nil
	}
	if err := id.Require(Producer, Consumer); err != nil {
		return err
	}
	return hide(refuse(NotOwner, "API key %q may not read this message: it is another producer's, and not for this consumer", id.Name))
}

// ListAs decides a listing filtered by producer (empty for every producer)
// and returns the producer filter to apply: an admin lists every producer's
// messages, a producer only its own.
func (id Identity) ListAs(producer string) (string, error) {
	if id.Is(Admin) {
		return producer, nil
	}
	if err := id.Require(Producer); err != nil {
		return "", err
	}
	if producer != "" && producer != id.Name {
		return "", refuse(OtherName, "API key %q lists only its own messages: leave producer out or give %q", id.Name, id.Name)
	}
	return id.Name, nil
}
