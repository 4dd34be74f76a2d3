package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestWhatAServiceLinks holds the module to its promise: the client and the
// producer link only the standard library, the consumer adds sarama, the
// GORM adapter GORM, and none of them Temporal or Courier's server.
func TestWhatAServiceLinks(t *testing.T) {
	t.Parallel()
	for pkg, allowed := range map[string][]string{
		".":              nil,
		"./producer":     nil,
		"./wire":         nil,
		"./dialect":      nil,
		"./consumer":     {"github.com/IBM/sarama", "github.com/", "golang.org/x/"},
		"./gormproducer": {"gorm.io/", "github.com/jinzhu/", "golang.org/x/"},
	} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/courier-mq/courier/client") {
				continue
			}
			if strings.Contains(dep, "temporal") || strings.HasPrefix(dep, "github.com/courier-mq/courier/") {
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
