package devstack

import (
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/resolver"
)

// envPostgresURL names the environment variable holding the PostgreSQL server
// for tests, e.g. postgres://root@127.0.0.1:5432/test?sslmode=disable. The
// database it names is ignored: every test gets databases of its own. When it
// is set, the tests fail if the server cannot be reached; when it is not, they
// skip.
const envPostgresURL = "COURIER_TEST_POSTGRES_DSN"

func TestTemporalPostgres(t *testing.T) {
	t.Parallel()
	cfg := setupTemporal(t)
	cfg.DataDir, cfg.Postgres = "", testPostgresURL(t)
	checkRestart(t, cfg, postgresNumHistoryShards)
}

func TestPostgresURL(t *testing.T) {
	t.Parallel()
	store, err := parsePostgresURL("postgres://courier:s%3Acret@db.example:6543/courier_temporal?sslmode=require&application_name=courier")
	require.NoError(t, err)
	require.Equal(t, "courier", store.User)
	require.Equal(t, "s:cret", store.Password)
	require.Equal(t, "db.example:6543", store.ConnectAddr)
	require.Equal(t, "courier_temporal", store.DatabaseName)
	require.Equal(t, map[string]string{"sslmode": "require", "application_name": "courier"}, store.ConnectAttributes)

	stores, err := newPostgresStores("postgresql://root@[::1]/courier_temporal", nil)
	require.NoError(t, err)
	require.Equal(t, "[::1]:5432", stores.main.ConnectAddr)
	require.Equal(t, "courier_temporal_visibility", stores.visibility.DatabaseName)

	for _, bad := range []string{
		"mysql://root@127.0.0.1/courier",
		"postgres:///courier",
		"postgres://root@127.0.0.1:5432",
		"postgres://root@127.0.0.1/Courier",
		"postgres://root@127.0.0.1/courier-temporal",
		"postgres://root@127.0.0.1/" + strings.Repeat("c", maxPostgresDatabaseName+1),
		"postgres://root@127.0.0.1/courier?sslmode=disable&sslmode=require",
		"postgres://root:secret@127.0.0.1:port/courier",
	} {
		_, err := parsePostgresURL(bad)
		require.Error(t, err, bad)
		require.NotContains(t, err.Error(), "secret", "errors never show the password")
	}
}

// testPostgresURL returns the URL of a database that does not exist yet on
// the server envPostgresURL names, and drops it and its visibility database
// when the test ends. It skips the test when envPostgresURL is not set.
func testPostgresURL(t *testing.T) string {
	t.Helper()
	raw := os.Getenv(envPostgresURL)
	if raw == "" {
		t.Skipf("no PostgreSQL server: set %s, e.g. postgres://root@127.0.0.1:5432/test?sslmode=disable", envPostgresURL)
	}
	u, err := url.Parse(raw)
	require.NoError(t, err, envPostgresURL)
	u.Path = "/courier_test_" + strings.ToLower(rand.Text())
	admin, err := parsePostgresURL(u.String())
	require.NoError(t, err, envPostgresURL)
	databases := []string{admin.DatabaseName, admin.DatabaseName + visibilitySuffix}
	admin.DatabaseName = ""
	t.Cleanup(func() {
		db, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, admin, resolver.NewNoopResolver(), newServerLogger(testLogger(t)), metrics.NoopMetricsHandler)
		require.NoError(t, err)
		defer db.Close()
		// A server left running by a failed test still holds connections.
		forceDrop, ok := db.(interface{ ForceDropDatabase(name string) error })
		require.True(t, ok, "the postgres plugin has ForceDropDatabase")
		for _, name := range databases {
			require.NoError(t, forceDrop.ForceDropDatabase(name), "drop %s", name)
		}
	})
	return u.String()
}
