package devstack

import (
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

// sqliteStores are the SQL configs of the default and the visibility store.
type sqliteStores struct {
	main       *config.SQL
	visibility *config.SQL
}

func newSQLiteStores(dataDir string) sqliteStores {
	store := func(file string) *config.SQL {
		return &config.SQL{
			PluginName:        sqliteplugin.PluginName,
			DatabaseName:      filepath.Join(dataDir, file),
			ConnectAttributes: sqliteConnectAttributes(),
		}
	}
	return sqliteStores{main: store(temporalDBFile), visibility: store(visibilityDBFile)}
}

// prepare creates the schema in files that do not exist yet and the namespace
// if it is missing. Existing files are used as they are.
func (s sqliteStores) prepare(namespace string, searchAttributes map[string]enumspb.IndexedValueType) error {
	for _, store := range []*config.SQL{s.main, s.visibility} {
		if err := setupSchema(store); err != nil {
			return err
		}
	}
	return createNamespace(s.main, namespace, searchAttributes)
}

func setupSchema(store *config.SQL) error {
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
