package wire

import (
	"testing"
	"time"
)

// TestCheckWaitGrowsToItsCap pins the default check-back schedule the
// workflow waits by and the spans the Go client sizes retention by: 30 s
// doubling to 5 min, 15 check-backs of at most 10 s each, then resends
// after 1, 2, 5, 15, 30 and 60 minutes.
func TestCheckWaitGrowsToItsCap(t *testing.T) {
	d := DefaultTiming()
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		if got := d.CheckWait(i + 1); got != w {
			t.Errorf("CheckWait(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got, want := d.CheckSpan(), 65*time.Minute; got != want {
		t.Errorf("CheckSpan() = %s, want %s (waits 3750 s + 15 timeouts of 10 s)", got, want)
	}
	if got, want := d.ResendSpan(), 113*time.Minute; got != want {
		t.Errorf("ResendSpan() = %s, want %s", got, want)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("the default timing is invalid: %v", err)
	}
}

// TestOverrideKeepsUnsetFields: a message's own timing replaces only what
// it sets, and never shares the override's slice.
func TestOverrideKeepsUnsetFields(t *testing.T) {
	own := Timing{CheckMaxAttempts: 3, ResendIntervals: []time.Duration{time.Second}}
	got := DefaultTiming().Override(own)
	if got.CheckMaxAttempts != 3 || got.CheckDelay != 30*time.Second || len(got.ResendIntervals) != 1 {
		t.Fatalf("Override = %+v", got)
	}
	own.ResendIntervals[0] = time.Hour
	if got.ResendIntervals[0] != time.Second {
		t.Fatal("Override shares the override's resend intervals")
	}
}
