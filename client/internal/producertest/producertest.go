// Package producertest makes producers for the client module's tests: a
// producer over a test database, its check-back handler served on a port of
// its own, and its barrier table made, as a service would run it.
package producertest

import (
	"database/sql"
	"net/http/httptest"
	"testing"

	"github.com/courier-mq/courier/client/producer"
)

// New is a producer over db that reaches Courier through api, with cfg's
// CheckURL set to its own check-back handler, served until t ends, and its
// barrier table migrated.
func New(t testing.TB, api producer.Courier, db *sql.DB, cfg producer.Config) *producer.Producer {
	t.Helper()
	// The address is known before the producer, which the handler needs.
	checks := httptest.NewUnstartedServer(nil)
	cfg.CheckURL = "http://" + checks.Listener.Addr().String() + "/check"
	p, err := producer.New(api, db, cfg)
	if err != nil {
		checks.Close()
		t.Fatal(err)
	}
	checks.Config.Handler = p.CheckHandler()
	checks.Start()
	t.Cleanup(checks.Close)
	if err := p.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return p
}
