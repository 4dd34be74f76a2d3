package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
)

// policyOverrides converts a message's own policy to the contract.Policy
// whose non-zero fields override the defaults, reporting every unparsable or
// non-positive field: a present field must be meaningful, so an explicit zero
// is refused rather than replaced by the default. Ranges are left to
// contract.Policy.Validate on the resolved policy.
func policyOverrides(p *wire.Policy) (contract.Policy, error) {
	var o contract.Policy
	if p == nil {
		return o, nil
	}
	var errs []error
	dur := func(name string, s *string, dst *time.Duration) {
		if s == nil {
			return
		}
		d, err := time.ParseDuration(*s)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("policy.%s %q is not a duration like \"30s\" or \"1m30s\"", name, clip(*s)))
		case d <= 0:
			errs = append(errs, fmt.Errorf("policy.%s must be positive, got %s", name, clip(*s)))
		default:
			*dst = d
		}
	}
	dur("check_delay", p.CheckDelay, &o.CheckDelay)
	dur("check_max_delay", p.CheckMaxDelay, &o.CheckMaxDelay)
	dur("check_timeout", p.CheckTimeout, &o.CheckTimeout)
	dur("publish_max_interval", p.PublishMaxInterval, &o.PublishMaxInterval)
	if p.CheckBackoff != nil {
		if *p.CheckBackoff <= 0 {
			errs = append(errs, fmt.Errorf("policy.check_backoff must be positive, got %g", *p.CheckBackoff))
		}
		o.CheckBackoff = *p.CheckBackoff
	}
	if p.CheckMaxAttempts != nil {
		if *p.CheckMaxAttempts <= 0 {
			errs = append(errs, fmt.Errorf("policy.check_max_attempts must be positive, got %d", *p.CheckMaxAttempts))
		}
		o.CheckMaxAttempts = *p.CheckMaxAttempts
	}
	if p.ResendIntervals != nil {
		switch n := len(p.ResendIntervals); {
		case n == 0:
			errs = append(errs, errors.New("policy.resend_intervals must not be empty; leave it out for the default"))
		case n > wire.MaxResendIntervals:
			errs = append(errs, fmt.Errorf("policy.resend_intervals lists %d durations, at most %d are allowed", n, wire.MaxResendIntervals))
		default:
			o.ResendIntervals = make([]time.Duration, n)
			for i := range p.ResendIntervals {
				dur(fmt.Sprintf("resend_intervals[%d]", i), &p.ResendIntervals[i], &o.ResendIntervals[i])
			}
		}
	}
	return o, errors.Join(errs...)
}
