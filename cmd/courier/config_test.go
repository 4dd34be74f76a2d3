package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/gateway"
	"github.com/courier-mq/courier/worker"
)

// runRefused runs courier with args, requires that it refuses them as a
// usage error (exit code 2) and returns what it printed.
func runRefused(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	require.Equal(t, 2, run(context.Background(), args, &out, &errOut), "courier %v: %s", args, errOut.String())
	return out.String(), errOut.String()
}

func TestInvalidConfigurationSaysEveryProblem(t *testing.T) {
	t.Setenv("COURIER_CHECK_MAX_ATTEMPTS", "many")
	_, out := runRefused(t, "all",
		"--db-driver", "oracle",
		"--kafka-brokers", "",
		"--check-url-allow-hosts", "loopback",
		"--resend-intervals", "1m,soon",
		"--log-format", "xml",
	)
	for _, want := range []string{
		"COURIER_CHECK_MAX_ATTEMPTS",
		"oracle",
		"kafka-brokers is required",
		`"soon" is not a duration`,
		"log-format must be text or json",
	} {
		require.Contains(t, out, want)
	}
	// One problem per line.
	require.GreaterOrEqual(t, strings.Count(out, "\n  - "), 5, out)
}

func TestFlagBeatsEnvironmentBeatsDefault(t *testing.T) {
	t.Setenv("COURIER_TEMPORAL_ADDRESS", "temporal.env:7233")
	t.Setenv("COURIER_HTTP_ADDR", ":9999")
	var cfg Config
	fs := newFlagSet(&cfg, "gateway")
	require.NoError(t, fs.Parse([]string{"--temporal-address", "temporal.flag:7233"}))
	require.Equal(t, "temporal.flag:7233", cfg.TemporalAddress)
	require.Equal(t, ":9999", cfg.HTTPAddr)
	require.Equal(t, "default", cfg.TemporalNamespace)
}

func TestUnknownCommand(t *testing.T) {
	_, stderr := runRefused(t, "frobnicate")
	require.Contains(t, stderr, `unknown command "frobnicate"`)
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"version"}, &stdout, &stderr))
	require.True(t, strings.HasPrefix(stdout.String(), "courier "), stdout.String())
}

func TestDefaultsAreThePackagesOwn(t *testing.T) {
	var cfg Config
	fs := newFlagSet(&cfg, "all")
	require.NoError(t, fs.Parse(nil))
	require.Equal(t, worker.DefaultConfig(), cfg.Worker)
	gc, err := cfg.gatewayConfig()
	require.NoError(t, err)
	want := gateway.Config{CheckURLAllowHosts: gc.CheckURLAllowHosts, CheckURLAllowSetting: gc.CheckURLAllowSetting}
	want.SetDefaults()
	require.Equal(t, want, gc, "the gateway's config is its own defaults")
	require.Equal(t, wire.DefaultTiming(), gc.DefaultPolicy)
	require.Equal(t, activities.DefaultClientID, cfg.connectConfig().Kafka.ClientID)
}

// The gateway names the flag and the variable that set its check URL
// allow-list when it refuses a check_url host, from the flag set itself.
func TestCheckURLAllowSettingNamesTheFlag(t *testing.T) {
	var cfg Config
	fs := newFlagSet(&cfg, "all")
	require.NoError(t, fs.Parse(nil))
	gc, err := cfg.gatewayConfig()
	require.NoError(t, err)
	require.Equal(t, "--check-url-allow-hosts / COURIER_CHECK_URL_ALLOW_HOSTS", gc.CheckURLAllowSetting)
	require.NotNil(t, fs.Lookup("check-url-allow-hosts"))
}

// The gateway's trusted proxies come from --trusted-proxies or its
// variable, a list like the other lists.
func TestTrustedProxiesReachTheGateway(t *testing.T) {
	t.Setenv("COURIER_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1")
	var cfg Config
	fs := newFlagSet(&cfg, "gateway")
	require.NoError(t, fs.Parse(nil))
	gc, err := cfg.gatewayConfig()
	require.NoError(t, err)
	require.Equal(t, []string{"10.0.0.0/8", "192.0.2.1"}, gc.TrustedProxies)

	_, out := runRefused(t, "gateway", "--trusted-proxies", "10.0.0.0/8,lb.internal")
	require.Contains(t, out, `trusted proxies: "lb.internal" is neither an IP address nor a CIDR range`)
}

// Requests to Temporal are gzip-compressed, the SDK's default, unless
// --temporal-gzip=false says the bandwidth is free.
func TestTemporalGzip(t *testing.T) {
	for args, uncompressed := range map[string]bool{"": false, "--temporal-gzip=false": true} {
		var cfg Config
		fs := newFlagSet(&cfg, "all")
		require.NoError(t, fs.Parse(strings.Fields(args)))
		require.Equal(t, uncompressed, cfg.connectConfig().TemporalUncompressed, args)
	}
}

// Every command that runs a Courier process can serve its profiles.
func TestPprofAddrOnEveryProcess(t *testing.T) {
	for _, cmd := range []string{"dev", "all", "worker", "gateway"} {
		var cfg Config
		fs := newFlagSet(&cfg, cmd)
		require.NoError(t, fs.Parse([]string{"--pprof-addr", "127.0.0.1:6060"}), cmd)
		ar, err := cfg.appRoles(roles{worker: cmd != "gateway", gateway: cmd != "worker"})
		require.NoError(t, err, cmd)
		require.Equal(t, "127.0.0.1:6060", ar.ProfilesAddr, cmd)
	}
}

// The console's session limits come from flags or COURIER_* variables, and
// an idle limit longer than the max age stops the start.
func TestConsoleSessionLimits(t *testing.T) {
	t.Setenv("COURIER_CONSOLE_SESSION_IDLE", "10m")
	var cfg Config
	fs := newFlagSet(&cfg, "gateway")
	require.NoError(t, fs.Parse([]string{"--console-session-max-age", "2h"}))
	gc, err := cfg.gatewayConfig()
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, gc.Console.SessionMaxAge)
	require.Equal(t, 10*time.Minute, gc.Console.SessionIdle)

	_, out := runRefused(t, "gateway", "--db-dsn", "x", "--console-session-max-age", "5m", "--console-session-idle", "1h")
	require.Contains(t, out, "session idle limit 1h0m0s is longer than the session max age 5m0s")
	_, out = runRefused(t, "gateway", "--db-dsn", "x", "--console-session-idle", "-1m")
	require.Contains(t, out, "must be at least 1s")
}
