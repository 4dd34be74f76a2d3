package devstack

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/config"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"google.golang.org/protobuf/types/known/durationpb"
)

// The two SQLite files under TemporalConfig.DataDir. Executions and visibility
// live apart so each file has its own writer lock.
const (
	temporalDBFile   = "temporal.db"
	visibilityDBFile = "visibility.db"
)

// namespaceRetention is how long closed workflows stay visible in a namespace
// created by StartTemporal.
const namespaceRetention = 7 * 24 * time.Hour

// sqliteConnectAttributes are the connect attributes of both files. The sqlite
// plugin passes "mode" as a URI parameter and every other key as a PRAGMA run
// on each new connection (`_pragma=journal_mode=wal`, ...):
//   - mode=rwc creates the file on first start;
//   - journal_mode=wal lets readers run beside the writer and, with
//     synchronous=normal, syncs at checkpoints instead of at every commit, which
//     is several times faster than the default rollback journal; a power loss
//     can lose the last commits but never corrupts the file;
//   - busy_timeout waits for a lock held by another process (a sqlite3 shell
//     inspecting the file) instead of failing at once.
func sqliteConnectAttributes() map[string]string {
	return map[string]string{
		"mode":         "rwc",
		"journal_mode": "wal",
		"synchronous":  "normal",
		"busy_timeout": "5000",
	}
}

// temporalStores are the server's two SQL stores, on SQLite or PostgreSQL.
type temporalStores struct {
	main       *config.SQL // executions, namespaces, cluster metadata
	visibility *config.SQL
	// numShards is the server's NumHistoryShards. The server records it in
	// the store at first start and keeps that count for good.
	numShards int32
	// setup creates the databases and schema the stores lack and leaves
	// existing ones alone.
	setup func() error
	// tune adjusts the set-up stores for the namespace before the server
	// opens them; nil leaves them as the schema made them.
	tune func(ctx context.Context, namespace string) error
}

// sqliteNumHistoryShards is the history shard count on SQLite. Every existing
// data directory was created with it, so it never changes.
const sqliteNumHistoryShards = 1

func newSQLiteStores(dataDir string) temporalStores {
	store := func(file string) *config.SQL {
		return &config.SQL{
			PluginName:        sqliteplugin.PluginName,
			DatabaseName:      filepath.Join(dataDir, file),
			ConnectAttributes: sqliteConnectAttributes(),
		}
	}
	s := temporalStores{main: store(temporalDBFile), visibility: store(visibilityDBFile), numShards: sqliteNumHistoryShards}
	s.setup = func() error {
		for _, store := range []*config.SQL{s.main, s.visibility} {
			if err := setupSQLiteSchema(store); err != nil {
				return err
			}
		}
		return nil
	}
	s.tune = func(ctx context.Context, namespace string) error {
		return slimVisibility(ctx, s.main.DatabaseName, s.visibility.DatabaseName, namespace)
	}
	return s
}

// prepare sets up what the stores lack, creates the namespace if it is
// missing and tunes the stores for it.
func (s temporalStores) prepare(ctx context.Context, namespace string, searchAttributes map[string]enumspb.IndexedValueType) error {
	if err := s.setup(); err != nil {
		return err
	}
	if err := createNamespace(s.main, namespace, searchAttributes); err != nil {
		return err
	}
	if s.tune == nil {
		return nil
	}
	return s.tune(ctx, namespace)
}

// setupSQLiteSchema creates the schema in a file that does not exist yet.
func setupSQLiteSchema(store *config.SQL) error {
	_, err := os.Stat(store.DatabaseName)
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check sqlite file %s: %w", store.DatabaseName, err)
	}
	if err := sqliteschema.SetupSchema(store); err != nil {
		return fmt.Errorf("set up schema in %s (remove the file to start over): %w", store.DatabaseName, err)
	}
	return nil
}

// createNamespace writes the namespace straight into the store before the
// server starts, so it is in every service's namespace cache from the first
// request. The search attributes go in with it: registering them later through
// the operator service only reaches the history service's cache after its
// next refresh. CreateNamespaces leaves an existing namespace untouched.
// sqliteschema's namespace helpers are plain SQL persistence code: they serve
// PostgreSQL as well, whose visibility schema has the same custom search
// attribute columns.
func createNamespace(store *config.SQL, name string, searchAttributes map[string]enumspb.IndexedValueType) error {
	ns, err := sqliteschema.NewNamespaceConfig(clusterName, name, false, searchAttributes)
	if err != nil {
		return fmt.Errorf("build namespace %s: %w", name, err)
	}
	ns.Detail.Config.Retention = durationpb.New(namespaceRetention)
	if err := sqliteschema.CreateNamespaces(store, ns); err != nil {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}
