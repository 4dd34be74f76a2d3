package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	"go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	"go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	"go.temporal.io/server/common/resolver"
	"go.temporal.io/server/schema"
)

// postgresNumHistoryShards is the history shard count of a server on
// PostgreSQL; issue 5 measured PostgreSQL with four. The server records the
// count in the database at first start and from then on keeps it, warning
// about and ignoring any other configured count: it is fixed for the life of
// a database, and a different count needs new databases.
const postgresNumHistoryShards = 4

// visibilitySuffix names the visibility database after the executions one.
const visibilitySuffix = "_visibility"

// postgresDatabaseName is what a database name in TemporalConfig.Postgres may
// be: a lower-case identifier, which means the same quoted or not.
var postgresDatabaseName = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// maxPostgresDatabaseName leaves room for visibilitySuffix in PostgreSQL's 63
// bytes of identifier.
const maxPostgresDatabaseName = 63 - len(visibilitySuffix)

// postgresSchemaDirs are the server's embedded PostgreSQL schemas, by store.
var postgresSchemaDirs = map[sqlplugin.DbKind]string{
	sqlplugin.DbKindMain:       "postgresql/v12/temporal",
	sqlplugin.DbKindVisibility: "postgresql/v12/visibility",
}

// newPostgresStores returns the stores of a server on the PostgreSQL databases
// rawURL names (see TemporalConfig.Postgres). logger receives the driver's
// connection errors while the schema is set up.
func newPostgresStores(rawURL string, logger log.Logger) (temporalStores, error) {
	main, err := parsePostgresURL(rawURL)
	if err != nil {
		return temporalStores{}, err
	}
	// The pools of Temporal's docker config. Unset, database/sql keeps only
	// two idle connections and a busy server keeps opening new ones.
	main.MaxConns, main.MaxIdleConns, main.MaxConnLifetime = 20, 20, time.Hour
	visibility := *main
	visibility.DatabaseName += visibilitySuffix
	visibility.ConnectAttributes = maps.Clone(main.ConnectAttributes)
	visibility.MaxConns, visibility.MaxIdleConns = 10, 10
	s := temporalStores{main: main, visibility: &visibility, numShards: postgresNumHistoryShards}
	s.setup = func() error { return setupPostgres(s, logger) }
	return s, nil
}

// parsePostgresURL turns a postgres:// URL into the executions store's config.
// Errors never repeat the URL: it may hold a password.
func parsePostgresURL(rawURL string) (*config.SQL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return nil, fmt.Errorf("scheme %q is not postgres", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("the URL names no host")
	}
	name := strings.TrimPrefix(u.Path, "/")
	if !postgresDatabaseName.MatchString(name) || len(name) > maxPostgresDatabaseName {
		return nil, fmt.Errorf("database name %q is not up to %d lower-case letters, digits and _", name, maxPostgresDatabaseName)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	attrs := map[string]string{}
	for key, values := range u.Query() {
		if len(values) != 1 {
			return nil, fmt.Errorf("parameter %s is given %d times", key, len(values))
		}
		attrs[key] = values[0]
	}
	password, _ := u.User.Password()
	return &config.SQL{
		PluginName:        postgresql.PluginNamePGX,
		User:              u.User.Username(),
		Password:          password,
		DatabaseName:      name,
		ConnectAddr:       net.JoinHostPort(u.Hostname(), port),
		ConnectProtocol:   "tcp",
		ConnectAttributes: attrs,
	}, nil
}

// setupPostgres creates the two databases if they are missing and sets up the
// schema in each one that has none.
func setupPostgres(s temporalStores, logger log.Logger) error {
	if err := createPostgresDatabases(s, logger); err != nil {
		return err
	}
	if err := setupPostgresSchema(s.main, sqlplugin.DbKindMain, logger); err != nil {
		return err
	}
	return setupPostgresSchema(s.visibility, sqlplugin.DbKindVisibility, logger)
}

// createPostgresDatabases creates whichever of the two databases does not
// exist, connected to the server's maintenance database.
func createPostgresDatabases(s temporalStores, logger log.Logger) error {
	admin := *s.main
	admin.DatabaseName = "" // the plugin then connects to "postgres" (or "defaultdb")
	db, err := sql.NewSQLAdminDB(sqlplugin.DbKindUnknown, &admin, resolver.NewNoopResolver(), logger, metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("connect to postgres %s: %w", admin.ConnectAddr, err)
	}
	defer db.Close()
	for _, store := range []*config.SQL{s.main, s.visibility} {
		err := db.CreateDatabase(store.DatabaseName)
		if errors.Is(err, sqlplugin.DatabaseUnavailableError) {
			// The plugin logs why it cannot connect and returns only this.
			return fmt.Errorf("connect to postgres %s as %q (the driver's error is logged above): %w", admin.ConnectAddr, admin.User, err)
		}
		if err != nil {
			return fmt.Errorf("create postgres database %s on %s: %w", store.DatabaseName, store.ConnectAddr, err)
		}
	}
	return nil
}

// setupPostgresSchema loads the server's embedded schema of kind into an
// empty database, as `temporal-sql-tool setup-schema` does, and records the
// version the server expects. A database that has a schema version is left
// as it is; the server checks the version at start.
func setupPostgresSchema(store *config.SQL, kind sqlplugin.DbKind, logger log.Logger) error {
	db, err := sql.NewSQLAdminDB(kind, store, resolver.NewNoopResolver(), logger, metrics.NoopMetricsHandler)
	if err != nil {
		return fmt.Errorf("connect to postgres database %s: %w", store.DatabaseName, err)
	}
	defer db.Close()
	if version, err := db.ReadSchemaVersion(store.DatabaseName); err == nil && version != "" {
		return nil
	}
	tables, err := db.ListTables(store.DatabaseName)
	if err != nil {
		return fmt.Errorf("list tables of postgres database %s: %w", store.DatabaseName, err)
	}
	if len(tables) > 0 {
		return fmt.Errorf("postgres database %s has tables but no Temporal schema version (an interrupted first start, or another application's database): drop it or name another", store.DatabaseName)
	}
	if err := loadPostgresSchema(db, kind); err != nil {
		return fmt.Errorf("set up schema in postgres database %s (drop it to start over): %w", store.DatabaseName, err)
	}
	return nil
}

func loadPostgresSchema(db sqlplugin.AdminDB, kind sqlplugin.DbKind) error {
	file := path.Join(postgresSchemaDirs[kind], "schema.sql")
	data, err := fs.ReadFile(schema.Assets(), file)
	if err != nil {
		return fmt.Errorf("read embedded %s: %w", file, err)
	}
	stmts, err := persistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(data)})
	if err != nil {
		return fmt.Errorf("split %s: %w", file, err)
	}
	if err := db.CreateSchemaVersionTables(); err != nil {
		return fmt.Errorf("create schema version tables: %w", err)
	}
	for _, stmt := range stmts {
		if err := db.Exec(stmt); err != nil {
			return fmt.Errorf("%s: %q: %w", file, stmt, err)
		}
	}
	version := db.ExpectedVersion()
	if err := db.UpdateSchemaVersion(db.DbName(), version, version); err != nil {
		return fmt.Errorf("record schema version %s: %w", version, err)
	}
	if err := db.WriteSchemaUpdateLog("0", version, "", "initial version"); err != nil {
		return fmt.Errorf("record schema update log: %w", err)
	}
	return nil
}

// SetupTemporalPostgres makes the databases rawURL names ready for a Temporal
// server, as `courier dev --temporal-postgres` does at its first start: it
// creates the executions database and its "_visibility" twin when missing
// and loads the server's schema into each one that has none. Tests that run
// the Temporal server's own binary on PostgreSQL use it in place of
// temporal-sql-tool.
func SetupTemporalPostgres(rawURL string, logger *slog.Logger) error {
	s, err := newPostgresStores(rawURL, newServerLogger(logger))
	if err != nil {
		return err
	}
	return s.setup()
}
