package wire

import (
	"errors"
	"fmt"
	"time"
)

// Timing is the timing of one message's lifecycle: the server's default,
// laid under a message's own (Override), and the policy the message's
// workflow runs by, recorded in its input; its JSON is in every recorded
// history, so a field's name never changes. The Go client shares it to
// compute how long its barrier and dedupe rows must outlast a message
// (CheckSpan, ResendSpan) with the workflow's own formula (CheckWait). All
// durations come from configuration, so tests can run the whole lifecycle
// in seconds.
type Timing struct {
	// CheckDelay is the wait from prepare to the first check-back.
	CheckDelay time.Duration `json:"check_delay"`
	// CheckBackoff multiplies the wait after each unanswered check-back ...
	CheckBackoff float64 `json:"check_backoff"`
	// ... up to CheckMaxDelay.
	CheckMaxDelay time.Duration `json:"check_max_delay"`
	// CheckMaxAttempts is how many check-backs are made before CHECK_EXHAUSTED.
	CheckMaxAttempts int `json:"check_max_attempts"`
	// CheckTimeout bounds one check-back HTTP call.
	CheckTimeout time.Duration `json:"check_timeout"`
	// ResendIntervals are the waits for completion after the first send and
	// after each resend; when the last one passes without completion the
	// message is DEAD. The default sends at most six times.
	ResendIntervals []time.Duration `json:"resend_intervals"`
	// PublishMaxInterval caps the backoff between retries of a failing publish.
	// Transient broker errors are retried without limit.
	PublishMaxInterval time.Duration `json:"publish_max_interval"`
}

// DefaultTiming is Courier's out-of-the-box timing: first check after 30 s,
// doubling up to 5 min, 15 checks (about an hour); completion expected within
// 1, 2, 5, 15, 30 and 60 minutes of each send; publish retries at most 1 min apart.
func DefaultTiming() Timing {
	return Timing{
		CheckDelay:       30 * time.Second,
		CheckBackoff:     2,
		CheckMaxDelay:    5 * time.Minute,
		CheckMaxAttempts: 15,
		CheckTimeout:     10 * time.Second,
		ResendIntervals: []time.Duration{
			time.Minute, 2 * time.Minute, 5 * time.Minute,
			15 * time.Minute, 30 * time.Minute, 60 * time.Minute,
		},
		PublishMaxInterval: time.Minute,
	}
}

// Override returns p with every non-zero field of o in its place: how a
// message's own policy is laid over the server's defaults.
func (p Timing) Override(o Timing) Timing {
	if o.CheckDelay != 0 {
		p.CheckDelay = o.CheckDelay
	}
	if o.CheckBackoff != 0 {
		p.CheckBackoff = o.CheckBackoff
	}
	if o.CheckMaxDelay != 0 {
		p.CheckMaxDelay = o.CheckMaxDelay
	}
	if o.CheckMaxAttempts != 0 {
		p.CheckMaxAttempts = o.CheckMaxAttempts
	}
	if o.CheckTimeout != 0 {
		p.CheckTimeout = o.CheckTimeout
	}
	if len(o.ResendIntervals) != 0 {
		p.ResendIntervals = append([]time.Duration(nil), o.ResendIntervals...)
	}
	if o.PublishMaxInterval != 0 {
		p.PublishMaxInterval = o.PublishMaxInterval
	}
	return p
}

// Timing limits enforced by Validate. They keep one message's workflow history
// bounded and its timers meaningful.
const (
	MaxCheckAttempts   = 1000
	MaxResendIntervals = 100
	MaxPolicyDuration  = 30 * 24 * time.Hour
)

// Validate reports every problem with p, one per line, or nil.
func (p Timing) Validate() error {
	var errs []error
	positive := func(name string, d time.Duration) {
		if d <= 0 || d > MaxPolicyDuration {
			errs = append(errs, fmt.Errorf("%s must be between 1ns and %s, got %s", name, MaxPolicyDuration, d))
		}
	}
	positive("check_delay", p.CheckDelay)
	positive("check_max_delay", p.CheckMaxDelay)
	positive("check_timeout", p.CheckTimeout)
	positive("publish_max_interval", p.PublishMaxInterval)
	if p.CheckMaxDelay > 0 && p.CheckDelay > p.CheckMaxDelay {
		errs = append(errs, fmt.Errorf("check_delay %s exceeds check_max_delay %s", p.CheckDelay, p.CheckMaxDelay))
	}
	if p.CheckBackoff < 1 || p.CheckBackoff > 10 {
		errs = append(errs, fmt.Errorf("check_backoff must be between 1 and 10, got %g", p.CheckBackoff))
	}
	if p.CheckMaxAttempts < 1 || p.CheckMaxAttempts > MaxCheckAttempts {
		errs = append(errs, fmt.Errorf("check_max_attempts must be between 1 and %d, got %d", MaxCheckAttempts, p.CheckMaxAttempts))
	}
	if len(p.ResendIntervals) < 1 || len(p.ResendIntervals) > MaxResendIntervals {
		errs = append(errs, fmt.Errorf("resend_intervals must list between 1 and %d durations, got %d", MaxResendIntervals, len(p.ResendIntervals)))
	}
	for i, d := range p.ResendIntervals {
		positive(fmt.Sprintf("resend_intervals[%d]", i), d)
	}
	return errors.Join(errs...)
}

// CheckWait is the wait before check-back number n (1-based): CheckDelay,
// growing by CheckBackoff after each unanswered one, up to CheckMaxDelay.
// The workflow waits it; CheckSpan adds it up.
func (p Timing) CheckWait(n int) time.Duration {
	d := float64(p.CheckDelay)
	for i := 1; i < n && d < float64(p.CheckMaxDelay); i++ {
		d *= p.CheckBackoff
	}
	return min(time.Duration(d), p.CheckMaxDelay)
}

// CheckSpan is how long after prepare the last check-back of a message with
// timing p can still be answered: every wait before a check-back plus every
// check-back taking its whole CheckTimeout. A producer's barrier rows must
// outlast it.
func (p Timing) CheckSpan() time.Duration {
	var span time.Duration
	for n := 1; n <= p.CheckMaxAttempts; n++ {
		span += p.CheckWait(n) + p.CheckTimeout
	}
	return span
}

// ResendSpan is how long after its first send a message with timing p is
// still re-sent: the sum of its resend intervals. After it the message is
// DEAD and only an operator's re-drive sends it again.
func (p Timing) ResendSpan() time.Duration {
	var span time.Duration
	for _, d := range p.ResendIntervals {
		span += d
	}
	return span
}
