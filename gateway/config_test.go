package gateway

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/workflows"
)

func TestConfigDefaults(t *testing.T) {
	t.Parallel()
	var c Config
	c.SetDefaults()
	require.NoError(t, c.Validate())
	require.Equal(t, DefaultMaxPayloadBytes, c.MaxPayloadBytes)
	require.Equal(t, DefaultDeliverAtTolerance, c.DeliverAtTolerance)
	require.Equal(t, workflows.DefaultPolicy(), c.DefaultPolicy)

	// A partial default policy keeps Courier's values for the rest.
	c = Config{DefaultPolicy: workflows.Policy{CheckDelay: 5 * time.Second}}
	c.SetDefaults()
	want := workflows.DefaultPolicy()
	want.CheckDelay = 5 * time.Second
	require.Equal(t, want, c.DefaultPolicy)
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	c := Config{
		APIKeys: []APIKey{
			{Key: "short", Name: "a", Roles: []Role{RoleProducer}},
			{Key: "0123456789abcdef:x", Name: "b c", Roles: []Role{"root"}},
			{Key: "0123456789abcdefgh", Name: "dup", Roles: nil},
			{Key: "0123456789abcdefgh", Name: "dup", Roles: []Role{RoleAdmin}},
		},
		CheckURLAllowHosts: []string{"*.ok.com", "bad host"},
		MaxPayloadBytes:    MaxPayloadLimit + 1,
		DeliverAtTolerance: -time.Second,
		DefaultPolicy:      workflows.Policy{CheckBackoff: 100},
	}
	c.SetDefaults()
	err := c.Validate()
	require.Error(t, err)
	for _, want := range []string{
		"API key 1 (\"a\"): key must be at least 16",
		"API key 2 (\"b c\"): key must be printable ASCII without spaces, ',' or ':'",
		"API key 2 (\"b c\"): name must be",
		`unknown role "root"`,
		"API key 3 (\"dup\"): at least one role",
		"API key 4 (\"dup\"): key is used by an earlier entry",
		"API key 4 (\"dup\"): name is used by an earlier entry",
		`"bad host"`,
		"max payload bytes",
		"deliver_at tolerance",
		"default policy: check_backoff",
	} {
		require.Contains(t, err.Error(), want)
	}
	for _, k := range c.APIKeys {
		require.NotContains(t, err.Error(), k.Key, "errors never show a key")
	}
}

func TestParseAPIKeys(t *testing.T) {
	t.Parallel()
	keys, err := ParseAPIKeys(" k3y-0f-the-orders-svc:orders:producer , k3y-0f-accounting:accounting:consumer+producer,k3y-0f-the-ops-team:ops:admin")
	require.NoError(t, err)
	require.Equal(t, []APIKey{
		{Key: "k3y-0f-the-orders-svc", Name: "orders", Roles: []Role{RoleProducer}},
		{Key: "k3y-0f-accounting", Name: "accounting", Roles: []Role{RoleConsumer, RoleProducer}},
		{Key: "k3y-0f-the-ops-team", Name: "ops", Roles: []Role{RoleAdmin}},
	}, keys)
	c := Config{APIKeys: keys}
	c.SetDefaults()
	require.NoError(t, c.Validate())

	keys, err = ParseAPIKeys("  ")
	require.NoError(t, err)
	require.Empty(t, keys)

	_, err = ParseAPIKeys("secret-one-0123456789:a:producer,secret-two-0123456789,,x:y:z:w")
	require.Error(t, err)
	require.Contains(t, err.Error(), "entry 2")
	require.Contains(t, err.Error(), "entry 3")
	require.Contains(t, err.Error(), "entry 4")
	require.NotContains(t, err.Error(), "secret")
}

func TestAPIKeyMasked(t *testing.T) {
	t.Parallel()
	k := APIKey{Key: "super-secret-key-123", Name: "ops", Roles: []Role{RoleAdmin, RoleProducer}}
	for _, s := range []string{fmt.Sprint(k), fmt.Sprintf("%+v", []APIKey{k}), fmt.Sprintf("%v", Config{APIKeys: []APIKey{k}})} {
		require.NotContains(t, s, "super-secret")
		require.Contains(t, s, "ops:admin+producer")
	}
	var b strings.Builder
	slog.New(slog.NewTextHandler(&b, nil)).Info("config", "key", k, "keys", []APIKey{k})
	require.NotContains(t, b.String(), "super-secret")
}
