package access

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseProxies(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.0/8", " 192.0.2.1 ", "2001:db8::/32", "::ffff:198.51.100.2"})
	require.NoError(t, err)
	for _, in := range []string{"10.1.2.3", "192.0.2.1", "2001:db8:1::1", "198.51.100.2", "::ffff:10.9.9.9"} {
		require.True(t, p.trusts(mustAddr(t, in)), in)
	}
	for _, in := range []string{"11.0.0.1", "192.0.2.2", "2001:db9::1"} {
		require.False(t, p.trusts(mustAddr(t, in)), in)
	}
	none, err := ParseProxies(nil)
	require.NoError(t, err)
	require.False(t, none.trusts(mustAddr(t, "127.0.0.1")), "no proxies trusts nothing")

	for _, bad := range []string{"proxy.internal", "10.0.0.0/33", "10.0.0.1:80", ""} {
		_, err := ParseProxies([]string{"10.0.0.1", bad})
		require.Error(t, err, "%q", bad)
		require.Contains(t, err.Error(), "trusted proxies")
	}
	_, err = ParseProxies([]string{"10.0.0.1/8"})
	require.ErrorContains(t, err, "10.0.0.0/8", "a range with host bits set names the range it means")
}

// TestClientAddressBehindProxies: the address counted for a request is the
// connection's peer unless that is a trusted proxy; then it is the
// right-most X-Forwarded-For hop that is not one, so that what a client
// writes into the header itself (to its left) is never believed.
func TestClientAddressBehindProxies(t *testing.T) {
	p, err := ParseProxies([]string{"10.0.0.0/8", "2001:db8:ffff::/48"})
	require.NoError(t, err)
	for _, c := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no header", "10.0.0.5:1234", nil, "10.0.0.5"},
		{"one proxy", "10.0.0.5:1234", []string{"203.0.113.7"}, "203.0.113.7"},
		{"spoofed left of the real client", "10.0.0.5:1234", []string{"198.51.100.1, 203.0.113.7"}, "203.0.113.7"},
		{"two proxies", "10.0.0.5:1234", []string{"198.51.100.1, 203.0.113.7, 10.2.2.2"}, "203.0.113.7"},
		{"several header lines in order", "10.0.0.5:1234", []string{"198.51.100.1", "203.0.113.7,10.2.2.2"}, "203.0.113.7"},
		{"with a port", "10.0.0.5:1234", []string{"203.0.113.7:5555"}, "203.0.113.7"},
		{"bracketed v6 with a port", "10.0.0.5:1234", []string{"[2001:db8:1:2::9]:5555"}, "2001:db8:1:2::/64"},
		{"v6 client, /64", "[2001:db8:ffff::1]:443", []string{"2001:db8:1:2:3:4:5:6"}, "2001:db8:1:2::/64"},
		{"untrusted peer: header ignored", "192.0.2.9:1234", []string{"203.0.113.7"}, "192.0.2.9"},
		{"all hops trusted: the left-most", "10.0.0.5:1234", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3"},
		{"garbage stops at the last trusted hop", "10.0.0.5:1234", []string{"203.0.113.7, unknown, 10.2.2.2"}, "10.2.2.2"},
		{"empty entries skipped", "10.0.0.5:1234", []string{" , 203.0.113.7 ,"}, "203.0.113.7"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := http.NewRequest(http.MethodGet, "http://courier/v1/stats", nil)
			require.NoError(t, err)
			r.RemoteAddr = c.remote
			for _, v := range c.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			require.Equal(t, c.want, p.ClientAddress(r))
			var none Proxies
			require.Equal(t, peerAddress(c.remote), none.ClientAddress(r), "no trusted proxies: the peer, whatever the header says")
		})
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	ip, err := netip.ParseAddr(s)
	require.NoError(t, err)
	return ip
}
