package contract_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWhatTheContractLinks holds the contract to what the README promises of
// it: its users (the gateway, the console, bench) get the names, the input,
// the state and the typed client without the workflow SDK's workflow half,
// the activities, the broker client or an OpenTelemetry SDK and exporter.
func TestWhatTheContractLinks(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	forbidden := []string{
		"go.temporal.io/sdk/workflow",
		"go.temporal.io/sdk/contrib/",
		"go.opentelemetry.io/otel/sdk",
		"go.opentelemetry.io/otel/exporters",
		"github.com/IBM/sarama",
		"github.com/courier-mq/courier/activities",
		"github.com/courier-mq/courier/workflows",
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f) {
				t.Errorf("contract links %s", dep)
			}
		}
	}
}
