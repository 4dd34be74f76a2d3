package client

import "time"

// Policy is a message's own timing; zero fields keep the gateway's default.
type Policy struct {
	CheckDelay         time.Duration
	CheckBackoff       float64
	CheckMaxDelay      time.Duration
	CheckMaxAttempts   int
	CheckTimeout       time.Duration
	ResendIntervals    []time.Duration
	PublishMaxInterval time.Duration
}

// DefaultPolicy is the timing of a gateway whose defaults were not changed:
// first check-back after 30 s, doubling up to 5 min, 15 check-backs of at
// most 10 s each; resends after 1, 2, 5, 15, 30 and 60 minutes. It is the
// server's workflows.DefaultPolicy, which a test in Courier's module ties
// it to.
func DefaultPolicy() Policy {
	return Policy{
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

// Over is p with DefaultPolicy's value in every zero field: the timing a
// message with policy p has on a gateway with the default timing. A nil p
// is DefaultPolicy.
func (p *Policy) Over() Policy {
	d := DefaultPolicy()
	if p == nil {
		return d
	}
	if p.CheckDelay != 0 {
		d.CheckDelay = p.CheckDelay
	}
	if p.CheckBackoff != 0 {
		d.CheckBackoff = p.CheckBackoff
	}
	if p.CheckMaxDelay != 0 {
		d.CheckMaxDelay = p.CheckMaxDelay
	}
	if p.CheckMaxAttempts != 0 {
		d.CheckMaxAttempts = p.CheckMaxAttempts
	}
	if p.CheckTimeout != 0 {
		d.CheckTimeout = p.CheckTimeout
	}
	if len(p.ResendIntervals) != 0 {
		d.ResendIntervals = append([]time.Duration(nil), p.ResendIntervals...)
	}
	if p.PublishMaxInterval != 0 {
		d.PublishMaxInterval = p.PublishMaxInterval
	}
	return d
}

// CheckSpan is how long after prepare the last check-back of a message with
// timing p can still be answered: every wait between check-backs (the delay
// grows by CheckBackoff up to CheckMaxDelay, as the workflow computes it)
// plus every check-back taking its whole CheckTimeout. The producer's
// barrier rows must outlast it; see producer.RetentionFloor.
func (p Policy) CheckSpan() time.Duration {
	var span time.Duration
	delay := p.CheckDelay
	for range p.CheckMaxAttempts {
		span += delay + p.CheckTimeout
		delay = min(time.Duration(float64(delay)*p.CheckBackoff), p.CheckMaxDelay)
	}
	return span
}

// ResendSpan is how long after its first send a message with timing p is
// still re-sent: the sum of its resend intervals. After it the message is
// DEAD and only an operator's re-drive sends it again.
func (p Policy) ResendSpan() time.Duration {
	var span time.Duration
	for _, d := range p.ResendIntervals {
		span += d
	}
	return span
}
