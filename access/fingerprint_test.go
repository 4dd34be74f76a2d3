package access

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A fingerprint finds its key's identity, whether the key is configured in
// plain text or by its hash, and is neither the key nor its hash.
func TestFindFingerprint(t *testing.T) {
	const admin, producer = "fingerprint-admin-0123456789", "fingerprint-producer-0123456789"
	kr, err := NewKeyring([]Key{
		{SHA256: strings.TrimPrefix(Hash(admin), "sha256:"), Name: "ops", Roles: []Role{Admin}},
		{Secret: producer, Name: "orders", Roles: []Role{Producer}, Topics: []string{"orders"}},
	})
	require.NoError(t, err)
	for key, name := range map[string]string{admin: "ops", producer: "orders"} {
		fp := Fingerprint(key)
		require.Len(t, fp, 64)
		require.NotContains(t, fp, key)
		require.NotEqual(t, strings.TrimPrefix(Hash(key), "sha256:"), fp)
		id, err := kr.FindFingerprint(fp)
		require.NoError(t, err)
		require.Equal(t, name, id.Name)
	}
	for _, fp := range []string{Fingerprint("not-a-configured-key-0123"), "", "zz", strings.TrimPrefix(Hash(admin), "sha256:")} {
		_, err := kr.FindFingerprint(fp)
		r, ok := err.(*Refusal)
		require.True(t, ok, "%q: %v", fp, err)
		require.Equal(t, BadKey, r.Reason)
	}
}
