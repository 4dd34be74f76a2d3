package gateway

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckURLAllowList(t *testing.T) {
	t.Parallel()
	l, err := parseAllowList([]string{"*.example.com", "checks.internal", "10.0.0.7", "2001:db8::1", " Producer.Local. "})
	require.NoError(t, err)
	for _, u := range []string{
		"https://a.example.com/check",
		"http://a.b.EXAMPLE.com:8443/check?x=1",
		"http://checks.internal/",
		"http://10.0.0.7:8080/",
		"http://[::ffff:10.0.0.7]/",
		"http://[2001:db8::1]/",
		"http://producer.local/",
	} {
		require.NoError(t, l.checkURL(u), u)
	}
	for _, u := range []string{
		"https://example.com/", // the pattern covers subdomains only
		"https://evilexample.com/",
		"https://a.example.com.evil.net/",
		"http://checks.internal.evil.net/",
		"http://10.0.0.8/",
		"http://127.0.0.1/", // loopback is not listed
		"http://localhost/",
		"http://[2001:db8::2]/",
		"http://10.0.0.7.example.net/",
	} {
		require.Error(t, l.checkURL(u), u)
	}
}

func TestParseAllowListErrors(t *testing.T) {
	t.Parallel()
	_, err := parseAllowList([]string{"*.", "exa mple.com", "[::1]", "fe80::1%eth0", "-bad.com", "127.1", "ok.com"})
	require.Error(t, err)
	for _, bad := range []string{`"*."`, `"exa mple.com"`, `"[::1]"`, `"fe80::1%eth0"`, `"-bad.com"`, `"127.1"`} {
		require.Contains(t, err.Error(), bad)
	}
	require.NotContains(t, err.Error(), "ok.com")
	empty, err := parseAllowList(nil)
	require.NoError(t, err)
	require.True(t, empty.empty())
	require.Error(t, empty.checkURL("http://localhost/"), "an empty list allows nothing")
}

// A refused check_url host names the setting that allows it, so that the
// producer's team knows what to ask the operator for.
func TestCheckURLRefusalNamesTheSetting(t *testing.T) {
	t.Parallel()
	l, err := parseAllowList([]string{AllowLoopback})
	require.NoError(t, err)
	require.EqualError(t, l.checkURL("http://example.com/"), `check_url host "example.com" is not on the allow-list`)
	l.setting = "--check-url-allow-hosts / COURIER_CHECK_URL_ALLOW_HOSTS"
	require.EqualError(t, l.checkURL("http://example.com/"),
		`check_url host "example.com" is not on the allow-list (--check-url-allow-hosts / COURIER_CHECK_URL_ALLOW_HOSTS)`)
}
