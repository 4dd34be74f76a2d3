package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWhatAServiceLinks holds the module to its promise: the client and the
// producer link only the standard library and the OpenTelemetry API (which
// carries the caller's trace context; it brings go-logr and xxhash), the
// consumer adds sarama, the GORM adapter GORM, and none of them Temporal,
// an OpenTelemetry SDK or exporter, or Courier's server.
func TestWhatAServiceLinks(t *testing.T) {
	t.Parallel()
	otelAPI := []string{"go.opentelemetry.io/otel", "go.opentelemetry.io/auto/sdk", "github.com/go-logr/", "github.com/cespare/xxhash/"}
	for pkg, allowed := range map[string][]string{
		".":              otelAPI,
		"./producer":     otelAPI,
		"./wire":         nil,
		"./dialect":      nil,
		"./consumer":     append([]string{"github.com/IBM/sarama", "github.com/", "golang.org/x/"}, otelAPI...),
		"./gormproducer": append([]string{"gorm.io/", "github.com/jinzhu/", "golang.org/x/"}, otelAPI...),
	} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/courier-mq/courier/client") {
				continue
			}
			if strings.Contains(dep, "temporal") || strings.HasPrefix(dep, "github.com/courier-mq/courier/") ||
				strings.HasPrefix(dep, "go.opentelemetry.io/otel/sdk") || strings.HasPrefix(dep, "go.opentelemetry.io/otel/exporters") {
				t.Errorf("%s links %s", pkg, dep)
			}
			ok := false
			for _, prefix := range allowed {
				ok = ok || strings.HasPrefix(dep, prefix)
			}
			if !ok {
				t.Errorf("%s links %s", pkg, dep)
			}
		}
	}
}
