package access

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// clock is a settable time for a Throttle under test.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newTestThrottle(t *testing.T) (*Throttle, *clock, *bytes.Buffer) {
	t.Helper()
	var log bytes.Buffer
	th := NewThrottle(slog.New(slog.NewJSONHandler(&log, nil)), Proxies{})
	c := &clock{t: time.Date(2026, 12, 5, 1, 0, 0, 0, time.UTC)}
	th.now = c.now
	return th, c, &log
}

// The 61st check in a window is refused, with the wait until the window
// ends in whole seconds; other addresses and identities are untouched; the
// refusal is logged once per window and counted every time.
func TestThrottleRefusesTheSixtyFirst(t *testing.T) {
	th, c, log := newTestThrottle(t)
	for i := range ThrottleLimit {
		_, ok := th.Allow(ByAddress, "192.0.2.7")
		require.True(t, ok, "check %d", i+1)
		th.Fail(ByAddress, "192.0.2.7")
		c.t = c.t.Add(100 * time.Millisecond)
	}
	// 6 s of the window have passed.
	wait, ok := th.Allow(ByAddress, "192.0.2.7")
	require.False(t, ok, "check 61")
	require.Equal(t, 54*time.Second, wait)
	c.t = c.t.Add(500 * time.Millisecond)
	wait, ok = th.Allow(ByAddress, "192.0.2.7")
	require.False(t, ok)
	require.Equal(t, 54*time.Second, wait, "rounded up to whole seconds")

	_, ok = th.Allow(ByAddress, "192.0.2.8")
	require.True(t, ok, "another address")
	_, ok = th.Allow(ByIdentity, "192.0.2.7")
	require.True(t, ok, "the scopes count apart")
	require.EqualValues(t, 2, th.Refused(ByAddress))
	require.Zero(t, th.Refused(ByIdentity))
	require.Equal(t, 1, strings.Count(log.String(), "too many refused API keys"), log.String())
	require.Contains(t, log.String(), `"address":"192.0.2.7"`)

	// The window ends: checks go on, and a new burst is logged again.
	c.t = c.t.Add(54 * time.Second)
	_, ok = th.Allow(ByAddress, "192.0.2.7")
	require.True(t, ok, "the window has ended")
	for range ThrottleLimit {
		th.Fail(ByAddress, "192.0.2.7")
	}
	_, ok = th.Allow(ByAddress, "192.0.2.7")
	require.False(t, ok)
	require.Equal(t, 2, strings.Count(log.String(), "too many refused API keys"))
}

// Failures from ever new addresses keep at most max windows; ended ones are
// dropped to make room.
func TestThrottleMemoryIsBounded(t *testing.T) {
	th, c, _ := newTestThrottle(t)
	th.max = 100
	for i := range 1000 {
		th.Fail(ByAddress, fmt.Sprintf("198.51.100.%d", i))
	}
	require.Len(t, th.scopes[ByAddress].windows, 100)
	c.t = c.t.Add(ThrottleWindow)
	th.Fail(ByAddress, "203.0.113.1")
	require.Len(t, th.scopes[ByAddress].windows, 1, "ended windows are dropped")
}

func TestPeerAddress(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5123":                       "192.0.2.7",
		"[::ffff:192.0.2.7]:80":                "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":           "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff:ffff:ffff:ff]:443": "2001:db8:1:2::/64",
		"[fe80::1%eth0]:80":                    "fe80::/64",
		"pipe":                                 "pipe",
	} {
		require.Equal(t, want, peerAddress(in), in)
	}
}
