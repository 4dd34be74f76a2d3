package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/console"
	"github.com/courier-mq/courier/contract"
)

// Defaults and bounds of Config.
const (
	// DefaultMaxPayloadBytes is Config.MaxPayloadBytes when it is zero:
	// Kafka's default message size.
	DefaultMaxPayloadBytes = 1 << 20
	// MaxPayloadLimit bounds Config.MaxPayloadBytes. The payload travels
	// base64-encoded in the workflow input and in every publish activity's
	// input, and Temporal refuses a payload over 2 MiB by default; 1 MiB plus
	// the other fields stays under it.
	MaxPayloadLimit = 1 << 20
	// DefaultDeliverAtTolerance is Config.DeliverAtTolerance when it is zero.
	DefaultDeliverAtTolerance = time.Minute
	// MaxDeliverAtTolerance bounds Config.DeliverAtTolerance.
	MaxDeliverAtTolerance = 24 * time.Hour
)

// Config is the gateway's configuration. Call SetDefaults, then Validate; New
// does both.
type Config struct {
	// APIKeys are the identities callers authenticate as (see
	// access.ParseKeys). Empty leaves the gateway open to anyone who can
	// reach it, as an admin; New logs a warning.
	APIKeys []access.Key
	// CheckURLAllowHosts are the hosts a message's check_url may name: exact
	// host names or IP addresses, "*.example.com" for any name under
	// example.com (not example.com itself), or "loopback" for 127.0.0.0/8, ::1
	// and localhost. A check URL is requested from inside the network on the
	// caller's behalf, so nothing else is allowed. Empty allows no host: only
	// direct send works.
	CheckURLAllowHosts []string
	// CheckURLAllowSetting names, for whoever reads a refusal, where the
	// operator sets CheckURLAllowHosts (cmd/courier: its flag and
	// environment variable). A refused check_url host names it, so that a
	// producer's team knows what to ask for. Empty names nothing.
	CheckURLAllowSetting string
	// TrustedProxies are the reverse proxies in front of the gateway, as IP
	// addresses or CIDR ranges (see access.ParseProxies): behind one of
	// them wrong keys are counted by the client address it appends to
	// X-Forwarded-For, not by the proxy's. Empty trusts no header, so
	// behind a proxy all its clients share one count.
	TrustedProxies []string
	// MaxPayloadBytes bounds a message's payload (after base64 decoding); a
	// larger one is refused with 413. Default DefaultMaxPayloadBytes, at most
	// MaxPayloadLimit.
	MaxPayloadBytes int
	// DeliverAtTolerance is how far in the past a deliver_at may be, to allow
	// for clock skew between the producer and Courier. Default
	// DefaultDeliverAtTolerance.
	DeliverAtTolerance time.Duration
	// Console configures the operator console that app builds beside the
	// gateway and the gateway serves under /console/. Its FirstCheck
	// defaults to DefaultPolicy's check delay.
	Console console.Config
	// DefaultPolicy is the server-wide timing. Its zero fields take
	// contract.DefaultPolicy's values; a message's own policy fields then
	// override it, and the result is validated per message.
	DefaultPolicy contract.Policy
}

// SetDefaults fills the zero fields of c.
func (c *Config) SetDefaults() {
	if c.MaxPayloadBytes == 0 {
		c.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if c.DeliverAtTolerance == 0 {
		c.DeliverAtTolerance = DefaultDeliverAtTolerance
	}
	c.DefaultPolicy = wire.DefaultTiming().Override(c.DefaultPolicy)
	if c.Console.FirstCheck == 0 {
		c.Console.FirstCheck = c.DefaultPolicy.CheckDelay
	}
	c.Console.SetDefaults()
}

// Validate reports every problem with a defaulted c, one error each.
func (c Config) Validate() error {
	var errs []error
	if err := access.Validate(c.APIKeys); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseAllowList(c.CheckURLAllowHosts); err != nil {
		errs = append(errs, err)
	}
	if _, err := access.ParseProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if c.MaxPayloadBytes < 1 || c.MaxPayloadBytes > MaxPayloadLimit {
		errs = append(errs, fmt.Errorf("max payload bytes must be between 1 and %d, got %d", MaxPayloadLimit, c.MaxPayloadBytes))
	}
	if c.DeliverAtTolerance < 0 || c.DeliverAtTolerance > MaxDeliverAtTolerance {
		errs = append(errs, fmt.Errorf("deliver_at tolerance must be between 0 and %s, got %s", MaxDeliverAtTolerance, c.DeliverAtTolerance))
	}
	if err := c.Console.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.DefaultPolicy.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("default policy: %w", err))
	}
	return errors.Join(errs...)
}

// NewThrottle is the throttle of wrong keys for c's gateway, counting
// requests through c's trusted proxies by the client they forward; app
// shares one between the API and the console.
func (c Config) NewThrottle(logger *slog.Logger) (*access.Throttle, error) {
	proxies, err := access.ParseProxies(c.TrustedProxies)
	if err != nil {
		return nil, err
	}
	return access.NewThrottle(logger, proxies), nil
}
