package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/models"
)

// rules are the Config-derived limits a prepare request is checked against.
type rules struct {
	maxPayload    int
	tolerance     time.Duration
	allow         hostAllowList
	defaultPolicy contract.Policy
}

// maxPrepareBody bounds a prepare request's body: the payload in its largest
// encoding (base64, 4/3 of its size) plus room for every other field.
func (r rules) maxPrepareBody() int64 { return int64(r.maxPayload)/3*4 + 4 + 1<<20 }

// preparedMessage is a validated prepare request, ready to start its workflow.
type preparedMessage struct {
	input contract.Input
	// fingerprint identifies the request's content; a retry with the same id
	// and fingerprint is the same request.
	fingerprint string
}

// decodePrepare decodes and validates a prepare (direct false) or send (direct
// true) request body that caller sent at now. The message's producer is the
// one caller may produce as (access.Identity.Produce). Errors are an
// *apiError (413 for a payload over the limit, else 400 with every problem
// found) or caller's *access.Refusal.
func (r rules) decodePrepare(body []byte, direct bool, now time.Time, caller access.Identity) (*preparedMessage, error) {
	if int64(len(body)) > r.maxPrepareBody() {
		return nil, tooLarge("request body is larger than %d bytes", r.maxPrepareBody())
	}
	var req wire.PrepareRequest
	if err := decodeStrict(body, &req, false); err != nil {
		return nil, err
	}
	payload, err := r.payload(&req)
	if err != nil {
		return nil, err
	}

	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var id string
	switch {
	case req.ID == nil:
		id = uuid.NewString()
	case *req.ID == "":
		add(errors.New(`id is empty: leave "id" out to have one generated`))
	default:
		id = *req.ID
		add(models.CheckID(id))
	}
	if req.Topic == "" {
		add(errors.New("topic is required"))
	} else {
		add(models.CheckTopic(req.Topic))
	}
	add(models.CheckKey(req.Key))
	add(checkHeaders(req.Headers))
	switch {
	case req.CheckURL != "":
		add(r.allow.checkURL(req.CheckURL))
	case !direct:
		add(errors.New("check_url is required: Courier asks it whether the message's transaction committed"))
	}
	if req.Producer != "" {
		add(models.CheckProducer(req.Producer))
	}
	add(checkConsumers(req.Consumers))
	deliverAt, err := r.deliverAt(req.DeliverAt, now)
	add(err)
	overrides, err := policyOverrides(req.Policy)
	add(err)
	var policy contract.Policy
	if err == nil {
		policy = r.defaultPolicy.Override(overrides)
		if err := policy.Validate(); err != nil {
			add(fmt.Errorf("policy: %s", joinLines(err)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, invalid("%s", joinLines(err))
	}
	producer, err := caller.Produce(req.Topic, req.Producer)
	if err != nil {
		return nil, err
	}

	msg := contract.Message{
		ID:        id,
		Topic:     req.Topic,
		Key:       req.Key,
		Payload:   payload,
		Headers:   nilIfEmpty(req.Headers),
		Producer:  producer,
		CheckURL:  req.CheckURL,
		DeliverAt: deliverAt,
	}
	if len(req.Consumers) > 0 {
		msg.Consumers = req.Consumers
	}
	return &preparedMessage{
		input:       contract.Input{Message: msg, Policy: policy, Confirmed: direct},
		fingerprint: fingerprint(msg, overrides, direct),
	}, nil
}

// payload returns the message payload of req, checking that exactly one form
// is given and that it fits MaxPayloadBytes (413 otherwise).
func (r rules) payload(req *wire.PrepareRequest) ([]byte, error) {
	hasJSON := len(req.Payload) > 0 && string(req.Payload) != "null"
	hasB64 := req.PayloadBase64 != nil
	switch {
	case hasJSON && hasB64:
		return nil, invalid("give either payload or payload_base64, not both")
	case !hasJSON && !hasB64:
		return nil, invalid("payload or payload_base64 is required")
	case hasJSON:
		if len(req.Payload) > r.maxPayload {
			return nil, tooLarge("payload is %d bytes, at most %d are allowed", len(req.Payload), r.maxPayload)
		}
		return []byte(req.Payload), nil
	}
	enc := *req.PayloadBase64
	if n := base64.StdEncoding.DecodedLen(len(enc)); n > r.maxPayload+2 {
		return nil, tooLarge("payload_base64 decodes to about %d bytes, at most %d are allowed", n, r.maxPayload)
	}
	payload, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, invalid("payload_base64 is not valid standard base64: %v", err)
	}
	if len(payload) > r.maxPayload {
		return nil, tooLarge("payload is %d bytes, at most %d are allowed", len(payload), r.maxPayload)
	}
	return payload, nil
}

// deliverAt parses an optional RFC 3339 deliver_at and checks it lies between
// now minus the tolerance and now plus wire.MaxPolicyDuration.
func (r rules) deliverAt(s *string, now time.Time) (*time.Time, error) {
	if s == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return nil, fmt.Errorf("deliver_at %q is not an RFC 3339 time like 2030-01-02T15:04:05Z", clip(*s))
	}
	if t.Before(now.Add(-r.tolerance)) {
		return nil, fmt.Errorf("deliver_at %s is more than %s in the past", *s, r.tolerance)
	}
	if t.After(now.Add(wire.MaxPolicyDuration)) {
		return nil, fmt.Errorf("deliver_at %s is more than %s ahead", *s, wire.MaxPolicyDuration)
	}
	t = t.UTC()
	return &t, nil
}

// checkHeaders checks the producer's Kafka headers.
func checkHeaders(h map[string]string) error {
	if len(h) > wire.MaxHeaders {
		return fmt.Errorf("%d headers given, at most %d are allowed", len(h), wire.MaxHeaders)
	}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if err := checkHeaderName(name); err != nil {
			errs = append(errs, err)
		} else if len(h[name]) > wire.MaxHeaderValueLen {
			errs = append(errs, fmt.Errorf("header %q value is longer than %d bytes", name, wire.MaxHeaderValueLen))
		}
	}
	return errors.Join(errs...)
}

// checkConsumers checks the named consumers: valid, unique, at most 32.
func checkConsumers(consumers []string) error {
	if len(consumers) > wire.MaxConsumers {
		return fmt.Errorf("%d consumers given, at most %d are allowed", len(consumers), wire.MaxConsumers)
	}
	var errs []error
	seen := map[string]bool{}
	for _, c := range consumers {
		if err := models.CheckConsumer(c); err != nil {
			errs = append(errs, err)
		} else if seen[c] {
			errs = append(errs, fmt.Errorf("consumer %q is listed twice", c))
		}
		seen[c] = true
	}
	return errors.Join(errs...)
}

// fingerprint is the SHA-256 of the canonical request: everything the caller
// chose, in decoded form, so that re-encoding the same request differently
// (key order, base64 versus JSON string escapes) still matches, and the
// policy as the caller gave it, so that a change of server defaults does not
// turn a retry into a conflict.
func fingerprint(msg contract.Message, overrides contract.Policy, direct bool) string {
	canonical := struct {
		ID        string            `json:"id"`
		Topic     string            `json:"topic"`
		Key       string            `json:"key"`
		Payload   []byte            `json:"payload"`
		Headers   map[string]string `json:"headers"`
		CheckURL  string            `json:"check_url"`
		Producer  string            `json:"producer"`
		Consumers []string          `json:"consumers"`
		DeliverAt *time.Time        `json:"deliver_at"`
		Policy    contract.Policy   `json:"policy"`
		Direct    bool              `json:"direct"`
	}{msg.ID, msg.Topic, msg.Key, msg.Payload, msg.Headers, msg.CheckURL, msg.Producer, msg.Consumers, msg.DeliverAt, overrides, direct}
	// Marshalling strings, bytes, times, sorted maps and numbers cannot fail.
	b, _ := json.Marshal(canonical)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func nilIfEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}
