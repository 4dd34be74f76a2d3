package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/access"
)

// TestAPIKeyNewMakesAWorkingEntry makes a key as the README shows, puts its
// entry in COURIER_API_KEYS, and checks that the gateway's keyring finds
// the key's identity from it, while the entry holds no secret.
func TestAPIKeyNewMakesAWorkingEntry(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runAPIKey([]string{"new", "-name", "orders", "-roles", "producer", "-topics", "orders+orders.*"}, nil, &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	require.Len(t, lines, 2, stdout.String())
	key := strings.TrimSpace(strings.TrimPrefix(lines[0], "key "))
	entry := strings.TrimSpace(strings.TrimPrefix(lines[1], "entry "))
	require.True(t, strings.HasPrefix(key, "ck_"), key)
	require.True(t, strings.HasPrefix(entry, "sha256:"), entry)
	require.NotContains(t, entry, key)
	require.True(t, strings.HasSuffix(entry, ":orders:producer:orders+orders.*"), entry)

	keys, err := access.ParseKeys(entry)
	require.NoError(t, err)
	kr, err := access.NewKeyring(keys)
	require.NoError(t, err)
	id, err := kr.Find(key)
	require.NoError(t, err)
	require.Equal(t, "orders", id.Name)
	p, err := id.Produce("orders.eu", "")
	require.NoError(t, err)
	require.Equal(t, "orders", p)
	_, err = id.Produce("billing", "")
	require.Error(t, err)

	// The same entry configures the gateway through the environment.
	t.Setenv("COURIER_API_KEYS", entry)
	var cfg Config
	require.NoError(t, newFlagSet(&cfg, "gateway").Parse(nil))
	gc, err := cfg.gatewayConfig()
	require.NoError(t, err)
	require.Equal(t, keys, gc.APIKeys)
}

func TestAPIKeyNewRefusesWhatTheGatewayWould(t *testing.T) {
	for _, args := range [][]string{
		{"new", "-name", "orders", "-roles", "producer"},
		{"new", "-name", "bad name", "-roles", "admin"},
		{"new", "-name", "ops", "-roles", "root"},
		{"new", "-name", "ops", "-roles", "admin", "-topics", "orders"},
	} {
		var stdout, stderr bytes.Buffer
		require.Equal(t, 2, runAPIKey(args, nil, &stdout, &stderr), "%v", args)
		require.Empty(t, stdout.String(), "no key is printed for a refused entry")
		require.Contains(t, stderr.String(), "  - ")
	}
}

func TestAPIKeyHash(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := runAPIKey([]string{"hash"}, strings.NewReader("first-key-0123456789\n\n  second-key-0123456789 \n"), &stdout, &stderr)
	require.Equal(t, 0, code, stderr.String())
	require.Equal(t, access.Hash("first-key-0123456789")+"\n"+access.Hash("second-key-0123456789")+"\n", stdout.String())
	require.Equal(t, 1, runAPIKey([]string{"hash"}, strings.NewReader(""), &stdout, &stderr))
	require.Equal(t, 2, runAPIKey([]string{"hash", "key-on-the-command-line"}, nil, &stdout, &stderr))
}

func TestGatewayRefusesKeysWithoutTopics(t *testing.T) {
	_, out := runRefused(t, "gateway",
		"--db-dsn", "root@tcp(127.0.0.1:3306)/test",
		"--api-keys", "k3y-0f-the-orders-svc:orders:producer,k3y-0f-accounting-svc:accounting:consumer:orders,k3y-0f-the-ops-team0:ops:admin",
	)
	require.Contains(t, out, `API key 1 ("orders"): a producer or consumer key needs the topics it may use`)
	require.NotContains(t, out, "accounting")
	require.NotContains(t, out, "k3y-0f")
}
