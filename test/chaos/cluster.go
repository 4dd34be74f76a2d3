package chaos

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", to drop the cluster's databases
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/server/api/adminservice/v1"
	enumsspb "go.temporal.io/server/api/enums/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/courier-mq/courier/contract"
	"github.com/courier-mq/courier/devstack"
	"github.com/courier-mq/courier/internal/freeport"
)

// EnvPostgresDSN names the PostgreSQL server the cluster test keeps its
// Temporal cluster's state on (.ci/run sets it); its database is ignored.
const EnvPostgresDSN = "COURIER_TEST_POSTGRES_DSN"

// BuildTemporalServer builds the Temporal server's own binary from the
// pinned go.temporal.io/server module (a tool of the root module) into dir.
func BuildTemporalServer(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "temporal-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "go.temporal.io/server/cmd/server")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build temporal server: %w\n%s", err, out)
	}
	return bin, nil
}

// TemporalCluster is a Temporal cluster of the server's own binary: nodes
// that each run every service, on one PostgreSQL database pair, finding each
// other through it, with a Balancer in front of their frontends. Each node
// is configured as the temporalio/server image configures itself, from the
// module's config/docker.yaml template and environment variables, with the
// dynamic configuration docker-compose.yml mounts.
type TemporalCluster struct {
	Nodes     []*Process
	Balancer  *Balancer
	frontends []string
	restarts  int
}

// StartTemporalCluster starts nodes server nodes of bin with shards history
// shards on fresh PostgreSQL databases, dropped when t ends, and registers
// the default namespace.
func StartTemporalCluster(t testing.TB, bin, dir string, nodes, shards int) *TemporalCluster {
	t.Helper()
	base := os.Getenv(EnvPostgresDSN)
	if base == "" {
		base = "postgres://root@127.0.0.1:5432/postgres?sslmode=disable"
	}
	u, err := url.Parse(base)
	require.NoError(t, err)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "courier_cluster_" + hex.EncodeToString(suffix)
	u.Path = "/" + name
	require.NoError(t, devstack.SetupTemporalPostgres(u.String(), slog.New(slog.DiscardHandler)))
	t.Cleanup(func() { dropPostgres(t, base, name, name+"_visibility") })

	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/server").Output()
	require.NoError(t, err)
	repo, err := filepath.Abs("../..")
	require.NoError(t, err)
	password, _ := u.User.Password()
	c := &TemporalCluster{}
	var frontends []string
	for i := range nodes {
		ports := map[string]int{}
		for _, p := range []string{"FRONTEND_GRPC_PORT", "FRONTEND_MEMBERSHIP_PORT", "FRONTEND_HTTP_PORT",
			"HISTORY_GRPC_PORT", "HISTORY_MEMBERSHIP_PORT", "MATCHING_GRPC_PORT", "MATCHING_MEMBERSHIP_PORT",
			"WORKER_GRPC_PORT", "WORKER_MEMBERSHIP_PORT"} {
			ports[p], err = freeport.Port("127.0.0.1")
			require.NoError(t, err)
		}
		env := map[string]string{
			"DB": "postgres12_pgx", "POSTGRES_SEEDS": u.Hostname(), "DB_PORT": portOf(u), "POSTGRES_PORT": portOf(u),
			"POSTGRES_USER": u.User.Username(), "POSTGRES_PWD": password,
			"DBNAME": name, "VISIBILITY_DBNAME": name + "_visibility",
			"SQL_MAX_CONNS": "5", "SQL_MAX_IDLE_CONNS": "5", "SQL_VIS_MAX_CONNS": "2", "SQL_VIS_MAX_IDLE_CONNS": "2",
			"NUM_HISTORY_SHARDS":         strconv.Itoa(shards),
			"BIND_ON_IP":                 "127.0.0.1",
			"TEMPORAL_BROADCAST_ADDRESS": "127.0.0.1",
			"DYNAMIC_CONFIG_FILE_PATH":   filepath.Join(repo, "deploy", "temporal", "dynamicconfig.yaml"),
			"LOG_LEVEL":                  "warn",
		}
		for k, p := range ports {
			env[k] = strconv.Itoa(p)
		}
		frontends = append(frontends, fmt.Sprintf("127.0.0.1:%d", ports["FRONTEND_GRPC_PORT"]))
		node := NewProcess(fmt.Sprintf("temporal node %d", i+1), bin,
			[]string{"--root", strings.TrimSpace(string(root)), "--config", "config", "--env", "docker", "start"},
			env, filepath.Join(dir, fmt.Sprintf("temporal-%d.log", i+1)))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("%s log (errors):\n%s\n%s log (tail):\n%s", node.Name, node.LogErrors(10), node.Name, node.LogTail(4<<10))
			}
			_ = node.Kill()
		})
		c.Nodes = append(c.Nodes, node)
	}
	c.frontends = frontends
	c.Balancer, err = NewBalancer(frontends...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Balancer.Close() })
	// The first node initialises the cluster's metadata in the empty
	// database; nodes started at the same moment race for it, and the
	// losers exit. So the others join once it answers, as an operator
	// brings up a new cluster.
	require.NoError(t, c.Nodes[0].Start())
	require.NoError(t, c.registerNamespace(context.Background()), "the first node did not come up; see its log")
	for _, node := range c.Nodes[1:] {
		require.NoError(t, node.Start())
	}
	require.NoError(t, c.waitMembers(context.Background(), nodes), "the nodes did not form one cluster")
	for _, f := range frontends {
		require.NoError(t, waitFrontend(context.Background(), f), "frontend %s", f)
	}
	return c
}

// waitSearchAttributes waits until every node's frontend accepts a start
// with Courier's search attributes (the workers register them at start):
// a node's namespace cache lags a registration made through another by up
// to its refresh interval, and until then starts through it are answered
// "no mapping defined". The probe workflows are terminated at once.
func (c *TemporalCluster) waitSearchAttributes(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for i, addr := range c.frontends {
		tc, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		if err != nil {
			return err
		}
		for attempt := 0; ; attempt++ {
			id := fmt.Sprintf("search-attribute-probe-%d-%d", i, attempt)
			run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: id, TaskQueue: "search-attribute-probe",
				TypedSearchAttributes: temporal.NewSearchAttributes(contract.SearchAttrStatus.ValueSet("probe"), contract.SearchAttrProducer.ValueSet("probe")),
			}, "SearchAttributeProbe")
			if err == nil {
				_ = tc.TerminateWorkflow(ctx, id, run.GetRunID(), "probe")
				break
			}
			select {
			case <-ctx.Done():
				tc.Close()
				return fmt.Errorf("node %d: %w", i+1, err)
			case <-time.After(time.Second):
			}
		}
		tc.Close()
	}
	return nil
}

// waitFrontend waits until the frontend at addr answers its health check: a
// node counts as a member before its frontend serves.
func waitFrontend(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		c, err := client.DialContext(ctx, client.Options{HostPort: addr, Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitMembers waits until the cluster's membership, as the server reports
// it, has n history hosts: the nodes found each other and share the shards.
func (c *TemporalCluster) waitMembers(ctx context.Context, n int) error {
	conn, err := grpc.NewClient(c.Balancer.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	admin := adminservice.NewAdminServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		resp, err := admin.ListClusterMembers(ctx, &adminservice.ListClusterMembersRequest{Role: enumsspb.CLUSTER_MEMBER_ROLE_HISTORY})
		if err == nil && len(resp.GetActiveMembers()) == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("history hosts: %d of %d (%v)", len(resp.GetActiveMembers()), n, err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// registerNamespace registers "default" once the cluster answers.
func (c *TemporalCluster) registerNamespace(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		err := func() error {
			nc, err := client.NewNamespaceClient(client.Options{HostPort: c.Balancer.Addr(), Logger: sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
			if err != nil {
				return err
			}
			defer nc.Close()
			err = nc.Register(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: "default", WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour)})
			if err != nil && !strings.Contains(err.Error(), "already exists") {
				return err
			}
			_, err = nc.Describe(ctx, "default")
			return err
		}()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("register namespace: %w", err)
		case <-time.After(time.Second):
		}
	}
}

// RestartNode kills node i with SIGKILL, leaves it down for down and starts
// it again.
func (c *TemporalCluster) RestartNode(ctx context.Context, i int, down time.Duration) error {
	if err := c.Nodes[i].Kill(); err != nil {
		return err
	}
	c.restarts++
	if err := sleep(ctx, down); err != nil {
		return err
	}
	return c.Nodes[i].Start()
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	return "5432"
}

// dropPostgres drops the databases names on the server base names.
func dropPostgres(t testing.TB, base string, names ...string) {
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Logf("drop the cluster's databases: %v", err)
		return
	}
	defer db.Close()
	for _, n := range names {
		if _, err := db.Exec("DROP DATABASE IF EXISTS " + n + " WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", n, err)
		}
	}
}
