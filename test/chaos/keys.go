package chaos

import (
	"strings"

	"github.com/courier-mq/courier/access"
)

// The suite runs with API keys on, as production does: the producer, the
// consumer and the operator each call the gateway with their own identity,
// so every scenario also checks that access control never refuses a
// legitimate request under faults.
const (
	producerKey = "chaos-producer-key-0123456789"
	consumerKey = "chaos-consumer-key-0123456789"
	operatorKey = "chaos-operator-key-0123456789"
	// ProducerName is the producer every message of the suite records.
	ProducerName = "chaos-producer"
)

// apiKeys are the suite's identities; the producer's and consumer's keys are
// configured by their hash.
func apiKeys() []access.Key {
	hash := func(secret string) string { return strings.TrimPrefix(access.Hash(secret), "sha256:") }
	return []access.Key{
		{SHA256: hash(producerKey), Name: ProducerName, Roles: []access.Role{access.Producer}, Topics: []string{Topic}},
		{SHA256: hash(consumerKey), Name: "chaos-consumer", Roles: []access.Role{access.Consumer}, Topics: []string{Topic}},
		{Secret: operatorKey, Name: "chaos-operator", Roles: []access.Role{access.Admin}},
	}
}

// apiKeysEnv is apiKeys in the COURIER_API_KEYS format, for `courier dev`.
func apiKeysEnv() string {
	var entries []string
	for _, k := range apiKeys() {
		secret := k.Secret
		if secret == "" {
			secret = "sha256:" + k.SHA256
		}
		roles := make([]string, len(k.Roles))
		for i, r := range k.Roles {
			roles[i] = string(r)
		}
		entry := secret + ":" + k.Name + ":" + strings.Join(roles, "+")
		if len(k.Topics) > 0 {
			entry += ":" + strings.Join(k.Topics, "+")
		}
		entries = append(entries, entry)
	}
	return strings.Join(entries, ",")
}
