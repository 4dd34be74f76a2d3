package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// composeService is what the test reads of a docker-compose service.
type composeService struct {
	Image       string            `yaml:"image"`
	Command     []string          `yaml:"command"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Restart     string            `yaml:"restart"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Volumes []string `yaml:"volumes"`
}

// composeDefault resolves ${VAR:-default} to its default, as compose does
// with VAR unset.
var composeDefault = regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`)

// TestComposeFileMatchesTheBinary checks docker-compose.yml against this
// binary and repository as far as can be done without a container engine:
// Courier's services run commands the binary has, with COURIER_* variables
// it reads and a configuration it accepts; dependencies, health checks,
// ports and addresses line up; the Temporal images are the versions go.mod
// embeds in `courier dev`.
func TestComposeFileMatchesTheBinary(t *testing.T) {
	raw, err := os.ReadFile("../../docker-compose.yml")
	require.NoError(t, err)
	var doc struct {
		Services map[string]composeService `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	services := doc.Services
	require.Contains(t, services, "courier-gateway")
	require.Contains(t, services, "courier-worker")
	require.Contains(t, services, "courier-migrate")

	dockerfile, err := os.ReadFile("../../Dockerfile")
	require.NoError(t, err)
	require.Contains(t, string(dockerfile), `ENTRYPOINT ["/usr/local/bin/courier"]`)

	hostPorts := map[string]string{}
	for name, svc := range services {
		// Every dependency exists and its condition fits it.
		for dep, d := range svc.DependsOn {
			target, ok := services[dep]
			require.True(t, ok, "%s depends on %s, which is not a service", name, dep)
			switch d.Condition {
			case "service_healthy":
				require.NotNil(t, target.Healthcheck, "%s waits for %s to be healthy, which has no health check", name, dep)
			case "service_completed_successfully":
				require.Equal(t, "no", target.Restart, "%s waits for %s to complete, which restarts", name, dep)
			}
		}
		// Host ports are loopback-only and unique.
		for _, p := range svc.Ports {
			require.True(t, strings.HasPrefix(p, "127.0.0.1:"), "%s publishes %s beyond loopback", name, p)
			host := strings.Split(p, ":")[1]
			require.NotContains(t, hostPorts, host, "%s and %s both publish host port %s", name, hostPorts[host], host)
			hostPorts[host] = name
		}
		// Mounted files exist.
		for _, v := range svc.Volumes {
			if src := strings.Split(v, ":")[0]; strings.HasPrefix(src, "./") {
				_, err := os.Stat("../../" + src)
				require.NoError(t, err, "%s mounts %s", name, src)
			}
		}
		if !strings.HasPrefix(svc.Image, "courier:") {
			continue
		}

		// Courier's services: a command the binary has, with variables it
		// reads and a configuration it accepts.
		require.Len(t, svc.Command, 1, name)
		cmd := svc.Command[0]
		require.Contains(t, []string{"gateway", "worker", "all", "migrate"}, cmd, name)
		for k, v := range svc.Environment {
			require.True(t, strings.HasPrefix(k, envPrefix), "%s sets %s, which courier does not read", name, k)
			t.Setenv(k, composeDefault.ReplaceAllString(v, "$1"))
		}
		var cfg Config
		fs := newFlagSet(&cfg, cmd)
		for k := range svc.Environment {
			flagName := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, envPrefix), "_", "-"))
			require.NotNil(t, fs.Lookup(flagName), "%s sets %s, but `courier %s` has no --%s", name, k, cmd, flagName)
		}
		require.NoError(t, fs.Parse(nil))
		require.NoError(t, cfg.Validate(cmd), "%s: `courier %s` refuses the compose configuration", name, cmd)
		if svc.Healthcheck != nil {
			require.Equal(t, []string{"CMD", "/usr/local/bin/courier", "healthcheck"}, svc.Healthcheck.Test, name)
			var hc Config
			require.NoError(t, newFlagSet(&hc, "healthcheck").Parse(nil))
			require.Equal(t, cfg.HTTPAddr, hc.HTTPAddr, "%s: the health check must probe the gateway's own address", name)
		}

		require.Contains(t, cfg.Store.DSN, "tcp(mysql:3306)", name)
		if cmd == "migrate" {
			require.Contains(t, svc.DependsOn, "mysql", name)
			continue
		}
		// The addresses it dials are services of this file, on their ports.
		require.Contains(t, services, strings.Split(cfg.TemporalAddress, ":")[0], name)
		for _, b := range splitList(cfg.KafkaBrokers) {
			host, port, _ := strings.Cut(b, ":")
			require.Contains(t, services, host, name)
			require.Contains(t, services[host].Environment["KAFKA_LISTENERS"], "PLAINTEXT://:"+port, "%s dials %s", name, b)
		}
		require.Equal(t, services["temporal-namespace"].Environment["TEMPORAL_NAMESPACE"], cfg.TemporalNamespace, name)
		for _, dep := range []string{"kafka", "temporal-namespace", "courier-migrate"} {
			require.Contains(t, svc.DependsOn, dep, "%s starts before %s", name, dep)
		}
	}

	// The Temporal images are the versions `courier dev` embeds.
	gomod, err := os.ReadFile("../../go.mod")
	require.NoError(t, err)
	version := func(module string) string {
		m := regexp.MustCompile(regexp.QuoteMeta(module) + ` v([0-9.]+)`).FindSubmatch(gomod)
		require.NotNil(t, m, module)
		return string(m[1])
	}
	server, ui := version("go.temporal.io/server"), version("github.com/temporalio/ui-server/v2")
	for name, want := range map[string]string{
		"temporal":           "temporalio/server:" + server,
		"temporal-schema":    "temporalio/admin-tools:" + server,
		"temporal-namespace": "temporalio/admin-tools:" + server,
		"temporal-ui":        "temporalio/ui:" + ui,
	} {
		require.Equal(t, want, services[name].Image, name)
	}
	require.True(t, slices.Contains(services["temporal-ui"].Ports, "127.0.0.1:8233:8080"))

	// The server image renders its configuration from the module's
	// config/docker.yaml, the template test/chaos's production-shape
	// cluster runs the server binary with: every variable compose sets
	// must be one that template reads.
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/server").Output()
	require.NoError(t, err)
	template, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(root)), "config", "docker.yaml"))
	require.NoError(t, err)
	for k := range services["temporal"].Environment {
		require.Contains(t, string(template), `env "`+k+`"`, "compose sets %s, which the server's config template does not read", k)
	}
	require.Equal(t, "/etc/temporal/config/dynamicconfig/courier.yaml", services["temporal"].Environment["DYNAMIC_CONFIG_FILE_PATH"])
	require.Contains(t, services["temporal"].Volumes, "./deploy/temporal/dynamicconfig.yaml:/etc/temporal/config/dynamicconfig/courier.yaml:ro",
		"the server mounts the dynamic configuration the production-shape test runs with")
	require.Equal(t, "http://localhost:8233", composeDefault.ReplaceAllString(services["courier-gateway"].Environment["COURIER_TEMPORAL_UI_URL"], "$1"),
		"the console links the UI where compose publishes it")
}
