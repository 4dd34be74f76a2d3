package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

// requireMigrated asserts the schema is complete and every migration is
// recorded once: the store works and the migration versions are distinct.
func requireMigrated(t *testing.T, s *store.Store) {
	t.Helper()
	var total, distinct int64
	err := s.DB().Raw("SELECT COUNT(*), COUNT(DISTINCT version) FROM courier_schema_migrations").Row().Scan(&total, &distinct)
	require.NoError(t, err)
	require.Positive(t, total)
	require.Equal(t, distinct, total)

	created, err := s.Insert(t.Context(), newMessage("m-1", epoch()))
	require.NoError(t, err)
	require.True(t, created)
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	storetest.EachConfig(t, func(t *testing.T, cfg store.Config) {
		s, err := store.Open(t.Context(), cfg)
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })

		require.NoError(t, s.Migrate(t.Context()))
		var versions int64
		require.NoError(t, s.DB().Raw("SELECT COUNT(*) FROM courier_schema_migrations").Row().Scan(&versions))
		require.NoError(t, s.Migrate(t.Context()))
		require.NoError(t, s.Migrate(t.Context()))
		var again int64
		require.NoError(t, s.DB().Raw("SELECT COUNT(*) FROM courier_schema_migrations").Row().Scan(&again))
		require.Equal(t, versions, again, "a second Migrate must not run or record anything")
		requireMigrated(t, s)
	})
}

func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	storetest.EachConfig(t, func(t *testing.T, cfg store.Config) {
		// Separate stores stand in for separate processes starting together.
		stores := make([]*store.Store, 4)
		for i := range stores {
			s, err := store.Open(t.Context(), cfg)
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close()) })
			stores[i] = s
		}
		var g errgroup.Group
		for _, s := range stores {
			g.Go(func() error { return s.Migrate(t.Context()) })
		}
		require.NoError(t, g.Wait())
		requireMigrated(t, stores[0])
	})
}

// TestMigrationInterruptedRunsAgain forgets that the last step was recorded,
// as when a migrator dies after the step's DDL (which MySQL commits as it
// goes) and before the record: the next Migrate runs the step again, and
// every statement must take what is already there.
func TestMigrationInterruptedRunsAgain(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		require.NoError(t, s.DB().Exec("DELETE FROM courier_schema_migrations WHERE version = (SELECT v FROM (SELECT MAX(version) AS v FROM courier_schema_migrations) AS last)").Error)
		require.NoError(t, s.Migrate(t.Context()))
		requireMigrated(t, s)
	})
}
