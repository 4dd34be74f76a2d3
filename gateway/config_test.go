package gateway

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/access"
	"github.com/courier-mq/courier/client/wire"
	"github.com/courier-mq/courier/contract"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	require.NoError(t, c.Validate())
	require.Equal(t, DefaultMaxPayloadBytes, c.MaxPayloadBytes)
	require.Equal(t, DefaultDeliverAtTolerance, c.DeliverAtTolerance)
	require.Equal(t, wire.DefaultTiming(), c.DefaultPolicy)

	// A partial default policy keeps Courier's values for the rest.
	c = Config{DefaultPolicy: contract.Policy{CheckDelay: 5 * time.Second}}
	c.SetDefaults()
	want := wire.DefaultTiming()
	want.CheckDelay = 5 * time.Second
	require.Equal(t, want, c.DefaultPolicy)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	c := Config{
		APIKeys: []access.Key{
			{Secret: "short", Name: "a", Roles: []access.Role{access.Producer}, Topics: []string{"*"}},
			{Secret: "0123456789abcdefgh", Name: "b", Roles: []access.Role{access.Consumer}},
		},
		CheckURLAllowHosts: []string{"*.ok.com", "bad host"},
		MaxPayloadBytes:    MaxPayloadLimit + 1,
		DeliverAtTolerance: -time.Second,
		DefaultPolicy:      contract.Policy{CheckBackoff: 100},
	}
	c.SetDefaults()
	err := c.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"API key 1 (\"a\"): key must be at least 16",
		"API key 2 (\"b\"): a producer or consumer key needs the topics",
		`"bad host"`,
		"max payload bytes",
		"deliver_at tolerance",
		"default policy: check_backoff",
	} {
		require.Contains(t, err.Error(), want)
	}
	for _, k := range c.APIKeys {
		require.NotContains(t, err.Error(), k.Secret, "errors never show a key")
	}
}

func TestAPIKeyMasked(t *testing.T) {
	t.Parallel()
	k := access.Key{Secret: "super-secret-key-123", Name: "ops", Roles: []access.Role{access.Admin, access.Producer}}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", []access.Key{k}), fmt.Sprintf("%v", Config{APIKeys: []access.Key{k}})} {
		require.NotContains(t, s, "super-secret")
		require.Contains(t, s, "ops:admin+producer")
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "key", k, "keys", []access.Key{k})
	require.NotContains(t, b.String(), "super-secret")
}
