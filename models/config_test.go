package models_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/courier-mq/courier/models"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := []models.Config{
		{Driver: models.DriverSQLite, DSN: "/var/lib/courier/courier.db"},
		{Driver: models.DriverSQLite, DSN: "file:courier.db?cache=private", MaxOpenConns: 1},
		{Driver: models.DriverMySQL, DSN: "courier:secret@tcp(db:3306)/courier?charset=utf8mb4"},
	}
	for _, cfg := range valid {
		require.NoError(t, cfg.Validate(), "%+v", cfg)
	}
	invalid := []models.Config{
		{},
		{Driver: "postgres", DSN: "postgres://db/courier"},
		{Driver: models.DriverSQLite},
		{Driver: models.DriverSQLite, DSN: ":memory:"},
		{Driver: models.DriverSQLite, DSN: "file:x?mode=memory&cache=shared"},
		{Driver: models.DriverSQLite, DSN: "courier.db", MaxOpenConns: -1},
		{Driver: models.DriverMySQL, DSN: "root@tcp(127.0.0.1:3306)/"},
		{Driver: models.DriverMySQL, DSN: "not a dsn"},
	}
	for _, cfg := range invalid {
		require.Error(t, cfg.Validate(), "%+v", cfg)
	}
}

func TestOpenFailsWhenDatabaseUnreachable(t *testing.T) {
	t.Parallel()
	_, err := models.Open(t.Context(), models.Config{Driver: models.DriverMySQL, DSN: "root@tcp(127.0.0.1:1)/courier?timeout=1s"})
	require.Error(t, err)
	_, err = models.Open(t.Context(), models.Config{Driver: models.DriverSQLite, DSN: t.TempDir() + "/missing/dir/courier.db"})
	require.Error(t, err)
}
