package conformance_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/courier-mq/courier/client/conformance"
	"github.com/courier-mq/courier/client/conformance/protocol"
	"github.com/courier-mq/courier/client/internal/devcourier"
	"github.com/courier-mq/courier/client/internal/testdb"
)

var courier *devcourier.Courier

// TestMain runs one `courier dev` for every scenario. Scenarios mostly wait
// for Courier, so unless -parallel is given they run eight at a time, not
// one per CPU.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "8")
	}
	devcourier.RunTests(m, &courier)
}

// isolations are the levels each database's scenarios run at; "default"
// leaves the database's own.
var isolations = map[string][]string{
	"sqlite":   {"default"},
	"mysql":    {"read_committed", "serializable"},
	"postgres": {"read_committed", "serializable"},
}

// TestConformance runs every scenario in scenarios/ against the adapter:
// COURIER_CONFORMANCE_ADAPTER's command line, or the Go client's, built
// here. Producer scenarios run for each of the adapter's modes and each
// isolation level, consumer scenarios once per database.
func TestConformance(t *testing.T) {
	scenarios, err := conformance.Load("scenarios")
	if err != nil {
		t.Fatal(err)
	}
	argv := adapter(t)
	modes := conformance.Modes(t, argv)
	for _, db := range []string{"sqlite", "mysql", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			for _, mode := range modes {
				t.Run(mode, func(t *testing.T) {
					t.Parallel()
					for _, sc := range scenarios {
						if sc.Side == "consumer" || !sc.RunsOn(db) {
							continue
						}
						t.Run(sc.Name, func(t *testing.T) {
							t.Parallel()
							for _, iso := range isolations[db] {
								t.Run(iso, func(t *testing.T) {
									t.Parallel()
									run(t, sc, argv, db, mode, iso)
								})
							}
						})
					}
				})
			}
			t.Run("consumer", func(t *testing.T) {
				t.Parallel()
				for _, sc := range scenarios {
					if sc.Side != "consumer" || !sc.RunsOn(db) {
						continue
					}
					t.Run(sc.Name, func(t *testing.T) {
						t.Parallel()
						run(t, sc, argv, db, modes[0], "default")
					})
				}
			})
		})
	}
}

func run(t *testing.T, sc conformance.Scenario, argv []string, db, mode, iso string) {
	if iso == "default" {
		iso = ""
	}
	conformance.Run(t, sc, conformance.Target{Adapter: argv, DB: testdb.Open(t, db), Mode: mode, Isolation: iso, Courier: courier})
}

// adapter is the adapter's command line.
func adapter(t *testing.T) []string {
	if cmd := os.Getenv("COURIER_CONFORMANCE_ADAPTER"); cmd != "" {
		return strings.Fields(cmd)
	}
	bin := filepath.Join(t.TempDir(), "goadapter")
	if out, err := exec.Command("go", "build", "-o", bin, "./goadapter").CombinedOutput(); err != nil {
		t.Fatalf("build the Go adapter: %v\n%s", err, out)
	}
	return []string{bin}
}

// The outcome words are the protocol's: an adapter in another language
// reads them from README.md, so the two must agree.
func TestREADMEListsTheOutcomes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range protocol.Outcomes {
		if !strings.Contains(string(b), "`"+string(o)+"`") {
			t.Errorf("README.md does not list outcome %s", o)
		}
	}
}
