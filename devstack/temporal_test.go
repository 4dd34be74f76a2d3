package devstack

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	_ "modernc.org/sqlite" // registers driver "sqlite" for reading the files back

	"github.com/courier-mq/courier/internal/freeport"
	"github.com/courier-mq/courier/internal/syncbuf"
)

var (
	testStatusKey = temporal.NewSearchAttributeKeyKeyword("DevstackStatus")
	testTopicKey  = temporal.NewSearchAttributeKeyKeyword("DevstackTopic")
)

// upsertWorkflow stands in for a message workflow: it tags itself with the
// search attributes the UI filters on, then completes.
func upsertWorkflow(ctx workflow.Context, status string) (string, error) {
	err := workflow.UpsertTypedSearchAttributes(ctx, testStatusKey.ValueSet(status), testTopicKey.ValueSet("orders"))
	return status, err
}

func TestTemporal(t *testing.T) {
	t.Parallel()
	cfg := setupTemporal(t)
	checkRestart(t, cfg, sqliteNumHistoryShards)
	for _, file := range []string{temporalDBFile, visibilityDBFile} {
		require.Equal(t, "wal", journalMode(t, filepath.Join(cfg.DataDir, file)), file)
	}

	// checkRestart's second start registered DevstackExtra with the server
	// running; the next start gives it its visibility index.
	vis := filepath.Join(cfg.DataDir, visibilityDBFile)
	require.Len(t, visibilityIndexNames(t, vis), len(visibilityIndexes)+2)
	cfg.SearchAttributes["DevstackExtra"] = enumspb.INDEXED_VALUE_TYPE_INT
	stopTemporal(t, startTemporal(t, cfg))
	require.Len(t, visibilityIndexNames(t, vis), len(visibilityIndexes)+3)
}

// visibilityIndexNames lists the indexes of the visibility table, through a
// read-only connection of its own.
func visibilityIndexNames(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.QueryContext(t.Context(), "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'executions_visibility' AND sql IS NOT NULL")
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		names = append(names, name)
	}
	require.NoError(t, rows.Err())
	return names
}

// checkRestart runs a workflow to completion on a server started with cfg,
// stops it, starts it again on the same store and finds the workflow there,
// its history, search attributes and visibility record intact, and the
// server on the shard count the store was created with. It leaves the server
// stopped.
func checkRestart(t *testing.T, cfg TemporalConfig, shards int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	srv := startTemporal(t, cfg)
	c := dialTemporal(t, srv)

	w := worker.New(c, "devstack-test", worker.Options{})
	w.RegisterWorkflow(upsertWorkflow)
	require.NoError(t, w.Start())

	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "devstack-wf", TaskQueue: "devstack-test"}, upsertWorkflow, "delivered")
	require.NoError(t, err)
	var result string
	require.NoError(t, run.Get(ctx, &result))
	require.Equal(t, "delivered", result)

	attrs, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: cfg.Namespace})
	require.NoError(t, err)
	require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, attrs.GetCustomAttributes()["DevstackStatus"])
	require.Equal(t, enumspb.INDEXED_VALUE_TYPE_KEYWORD, attrs.GetCustomAttributes()["DevstackTopic"])

	// The upsert reached the visibility store: the UI's query finds it.
	require.Eventually(t, func() bool {
		return countByStatus(t, c, "delivered") == 1
	}, 10*time.Second, 100*time.Millisecond)

	w.Stop()
	c.Close()
	stopTemporal(t, srv)

	// Restart on the same store, with one more search attribute: it is
	// registered on the existing namespace, the others are left alone.
	cfg.SearchAttributes = maps.Clone(cfg.SearchAttributes)
	cfg.SearchAttributes["DevstackExtra"] = enumspb.INDEXED_VALUE_TYPE_INT
	srv = startTemporal(t, cfg)
	c = dialTemporal(t, srv)
	attrs, err = c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: cfg.Namespace})
	require.NoError(t, err)
	require.Equal(t, enumspb.INDEXED_VALUE_TYPE_INT, attrs.GetCustomAttributes()["DevstackExtra"])
	desc, err := c.DescribeWorkflowExecution(ctx, "devstack-wf", "")
	require.NoError(t, err)
	require.Equal(t, enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED, desc.GetWorkflowExecutionInfo().GetStatus())
	require.Equal(t, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, lastEventType(t, c, "devstack-wf"))
	require.Equal(t, 1, countByStatus(t, c, "delivered"))
	// A filter on a column whose index the SQLite store drops still answers.
	byLength, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "HistoryLength > 0"})
	require.NoError(t, err)
	require.Len(t, byLength.GetExecutions(), 1)
	info, err := c.WorkflowService().GetClusterInfo(ctx, &workflowservice.GetClusterInfoRequest{})
	require.NoError(t, err)
	require.Equal(t, shards, info.GetHistoryShardCount())
	c.Close()
	stopTemporal(t, srv)
}

func setupTemporal(t *testing.T) TemporalConfig {
	t.Helper()
	port, err := freeport.Port(loopback)
	require.NoError(t, err)
	return TemporalConfig{
		DataDir:   t.TempDir(),
		Port:      port,
		Namespace: "devstack",
		SearchAttributes: map[string]enumspb.IndexedValueType{
			"DevstackStatus": enumspb.INDEXED_VALUE_TYPE_KEYWORD,
			"DevstackTopic":  enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		},
		Logger: testLogger(t),
	}
}

func startTemporal(t *testing.T, cfg TemporalConfig) *Temporal {
	t.Helper()
	began := time.Now()
	srv, err := StartTemporal(t.Context(), cfg)
	require.NoError(t, err)
	t.Logf("temporal started on %s in %s", srv.HostPort(), time.Since(began).Round(time.Millisecond))
	return srv
}

func stopTemporal(t *testing.T, srv *Temporal) {
	t.Helper()
	began := time.Now()
	require.NoError(t, srv.Stop())
	t.Logf("temporal stopped in %s", time.Since(began).Round(time.Millisecond))
}

func dialTemporal(t *testing.T, srv *Temporal) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{
		HostPort:  srv.HostPort(),
		Namespace: "devstack",
		Logger:    sdklog.NewStructuredLogger(testLogger(t)),
	})
	require.NoError(t, err)
	return c
}

func countByStatus(t *testing.T, c client.Client, status string) int {
	t.Helper()
	resp, err := c.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: "DevstackStatus = '" + status + "'",
	})
	require.NoError(t, err)
	return len(resp.GetExecutions())
}

// lastEventType reads the workflow's whole history and returns the type of its
// last event.
func lastEventType(t *testing.T, c client.Client, workflowID string) enumspb.EventType {
	t.Helper()
	iter := c.GetWorkflowHistory(t.Context(), workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var events []*historypb.HistoryEvent
	for iter.HasNext() {
		event, err := iter.Next()
		require.NoError(t, err)
		events = append(events, event)
	}
	require.NotEmpty(t, events, "history of %s", workflowID)
	return events[len(events)-1].GetEventType()
}

// journalMode reads the journal mode stored in the file's header, through a
// read-only connection of its own.
func journalMode(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var mode string
	require.NoError(t, db.QueryRowContext(context.Background(), "PRAGMA journal_mode").Scan(&mode))
	return mode
}

// testLogger writes warnings and errors to the test's output.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestTemporalPortTaken starts the server on a frontend port another process
// holds: the start fails with an error naming the address, and neither
// panics nor leaves a server behind.
func TestTemporalPortTaken(t *testing.T) {
	t.Parallel()
	cfg := setupTemporal(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(cfg.Port)))
	require.NoError(t, err)
	defer ln.Close()
	_, err = StartTemporal(t.Context(), cfg)
	require.ErrorContains(t, err, net.JoinHostPort(loopback, strconv.Itoa(cfg.Port)))
	require.ErrorIs(t, err, syscall.EADDRINUSE)
}

// TestTemporalQuietOnLargeHistoryPages asks for a history page larger than
// the server serves, as the Web UI does for every workflow it shows: the
// server clamps the page, and the dev terminal hears nothing of it.
func TestTemporalQuietOnLargeHistoryPages(t *testing.T) {
	t.Parallel()
	cfg := setupTemporal(t)
	var logged syncbuf.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(&logged, t.Output()), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := startTemporal(t, cfg)
	defer stopTemporal(t, srv)
	c := dialTemporal(t, srv)
	defer c.Close()
	_, err := c.WorkflowService().GetWorkflowExecutionHistory(t.Context(), &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace:       cfg.Namespace,
		Execution:       &commonpb.WorkflowExecution{WorkflowId: "never-started"},
		MaximumPageSize: 1000,
	})
	var notFound *serviceerror.NotFound
	require.ErrorAs(t, err, &notFound)
	require.NotContains(t, logged.String(), "GetHistory page size")
}
