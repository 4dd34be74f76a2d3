package store_test

import (
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/store"
	"github.com/courier-mq/courier/store/storetest"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := []store.Config{
		{Driver: store.DriverSQLite, DSN: "/var/lib/courier/courier.db"},
		{Driver: store.DriverSQLite, DSN: "file:courier.db?cache=private", MaxOpenConns: 1},
		{Driver: store.DriverMySQL, DSN: "courier:secret@tcp(db:3306)/courier?charset=utf8mb4"},
	}
	for _, cfg := range valid {
		require.NoError(t, cfg.Validate(), "%+v", cfg)
	}
	invalid := []store.Config{
		{},
		{Driver: "postgres", DSN: "postgres://db/courier"},
		{Driver: store.DriverSQLite},
		{Driver: store.DriverSQLite, DSN: ":memory:"},
		{Driver: store.DriverSQLite, DSN: "file:x?mode=memory&cache=shared"},
		{Driver: store.DriverSQLite, DSN: "courier.db", MaxOpenConns: -1},
		{Driver: store.DriverMySQL, DSN: "root@tcp(127.0.0.1:3306)/"},
		{Driver: store.DriverMySQL, DSN: "not a dsn"},
	}
	for _, cfg := range invalid {
		require.Error(t, cfg.Validate(), "%+v", cfg)
	}
}

func TestOpenFailsWhenDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	_, err := store.Open(t.Context(), store.Config{Driver: store.DriverMySQL, DSN: "root@tcp(127.0.0.1:1)/courier?timeout=1s"})
	require.Error(t, err)
	require.NotErrorIs(t, err, store.ErrPermanent, "a server that is not up yet may come up")
	_, err = store.Open(t.Context(), store.Config{Driver: store.DriverSQLite, DSN: t.TempDir() + "/missing/dir/courier.db"})
	require.Error(t, err)
	require.NotErrorIs(t, err, store.ErrPermanent, "a volume may be mounted later")
}

func TestOpenMissingDatabaseIsPermanent(t *testing.T) {
	t.Parallel()
	cfg := storetest.MySQLConfig(t)
	dsn, err := mysql.ParseDSN(cfg.DSN)
	require.NoError(t, err)
	dsn.DBName += "_missing"
	cfg.DSN = dsn.FormatDSN()
	_, err = store.Open(t.Context(), cfg)
	require.ErrorIs(t, err, store.ErrPermanent, "no retry creates the database")
}
