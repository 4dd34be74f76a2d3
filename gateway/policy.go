package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/courier-mq/courier/contract"
)

// policyRequest is a message's own policy on the wire: Go duration strings
// ("30s", "1m30s") and numbers. Absent fields take the server's defaults;
// present ones must be meaningful, so an explicit zero is refused rather than
// silently replaced by the default.
type policyRequest struct {
	CheckDelay         *string  `json:"check_delay"`
	CheckBackoff       *float64 `json:"check_backoff"`
	CheckMaxDelay      *string  `json:"check_max_delay"`
	CheckMaxAttempts   *int     `json:"check_max_attempts"`
	CheckTimeout       *string  `json:"check_timeout"`
	ResendIntervals    []string `json:"resend_intervals"`
	PublishMaxInterval *string  `json:"publish_max_interval"`
}

// overrides converts p to the contract.Policy whose non-zero fields override
// the defaults, reporting every unparsable or non-positive field. Ranges are
// left to contract.Policy.Validate on the resolved policy.
func (p *policyRequest) overrides() (contract.Policy, error) {
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
		case n > contract.MaxResendIntervals:
			errs = append(errs, fmt.Errorf("policy.resend_intervals lists %d durations, at most %d are allowed", n, contract.MaxResendIntervals))
		default:
			o.ResendIntervals = make([]time.Duration, n)
			for i := range p.ResendIntervals {
				dur(fmt.Sprintf("resend_intervals[%d]", i), &p.ResendIntervals[i], &o.ResendIntervals[i])
			}
		}
	}
	return o, errors.Join(errs...)
}
