package devstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/courier-mq/courier/internal/freeport"
)

// The kill -9 test runs the broker in a child process: this test binary,
// started again with these variables set, runs only the broker.
const (
	envKafkaChildDir  = "COURIER_DEVSTACK_KAFKA_CHILD_DIR"
	envKafkaChildPort = "COURIER_DEVSTACK_KAFKA_CHILD_PORT"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envKafkaChildDir); dir != "" {
		os.Exit(runKafkaChild(dir, os.Getenv(envKafkaChildPort)))
	}
	os.Exit(m.Run())
}

// runKafkaChild runs a broker on dir and port until it is killed.
func runKafkaChild(dir, port string) int {
	p, err := strconv.Atoi(port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	k, err := StartKafka(ctx, KafkaConfig{DataDir: dir, Port: p, Partitions: 3})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	<-ctx.Done()
	_ = k.Close()
	return 0
}

// placedRecord is a record the broker acknowledged, where it said it put it.
type placedRecord struct {
	partition int32
	offset    int64
	value     string
}

// TestKafkaKeepsAcknowledgedRecordsAcrossKill9 produces to a topic created on
// first use (as Courier's producer does), kills the broker's process with
// SIGKILL, and starts it again on the same data directory, three times, once
// with a torn write at the end of every segment: every record the broker
// acknowledged must be readable after each crash at the offset it was given,
// offsets must keep increasing, and nothing else may be there. Before topics
// created on first use were written to disk at once, the broker forgot the
// topic after the first kill.
func TestKafkaKeepsAcknowledgedRecordsAcrossKill9(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port, err := freeport.Port(loopback)
	require.NoError(t, err)
	addr := net.JoinHostPort(loopback, strconv.Itoa(port))
	const topic = "devstack.crash"
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	var acked []placedRecord
	for round := range 3 {
		child := startKafkaChild(t, dir, port)
		requireRecords(ctx, t, addr, topic, acked)

		acked = append(acked, produceRecords(ctx, t, addr, topic, 30, fmt.Sprintf("round %d", round))...)
		require.NoError(t, child.Process.Kill())
		_ = child.Wait()
		if round == 1 {
			tearSegmentTails(t, dir, topic)
		}
	}
	startKafkaChild(t, dir, port)
	requireRecords(ctx, t, addr, topic, acked)
}

// produceRecords produces n records labelled label to topic, creating it on
// first use as Courier's producer does, each acknowledged by all replicas,
// and returns where the broker put them.
func produceRecords(ctx context.Context, t *testing.T, addr, topic string, n int, label string) []placedRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.RequiredAcks(kgo.AllISRAcks()))
	require.NoError(t, err)
	defer cl.Close()
	out := make([]placedRecord, 0, n)
	for i := range n {
		rec := &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: fmt.Appendf(nil, "%s record %d", label, i)}
		require.NoError(t, cl.ProduceSync(ctx, rec).FirstErr())
		out = append(out, placedRecord{rec.Partition, rec.Offset, string(rec.Value)})
	}
	return out
}

// tearSegmentTails appends half a record batch to every segment file of
// topic, as a crash in the middle of a write leaves it: the broker must cut
// it off at start and go on at the next offset.
func tearSegmentTails(t *testing.T, dir, topic string) {
	t.Helper()
	segments, err := filepath.Glob(filepath.Join(dir, "partitions", topic+"-*", "*.dat"))
	require.NoError(t, err)
	require.NotEmpty(t, segments, "no segment files of %s under %s", topic, dir)
	for _, path := range segments {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		require.NoError(t, err)
		// A batch header announcing 200 bytes, and 20 of them.
		torn := append([]byte{0, 0, 0, 0, 0, 0, 0, 99, 0, 0, 0, 200}, make([]byte, 20)...)
		_, err = f.Write(torn)
		require.NoError(t, err)
		require.NoError(t, f.Close())
	}
}

// startKafkaChild starts the broker in a child process on dir and port and
// waits until it accepts connections.
func startKafkaChild(t *testing.T, dir string, port int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envKafkaChildDir+"="+dir, envKafkaChildPort+"="+strconv.Itoa(port))
	logFile, err := os.OpenFile(filepath.Join(t.TempDir(), "broker.log"), os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	t.Cleanup(func() { _ = logFile.Close() })
	cmd.Stdout, cmd.Stderr = logFile, logFile
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	addr := net.JoinHostPort(loopback, strconv.Itoa(port))
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return cmd
		}
		require.True(t, time.Now().Before(deadline), "the broker did not listen on %s: %v", addr, err)
		time.Sleep(50 * time.Millisecond)
	}
}

// requireRecords reads every partition of topic to its end and requires
// exactly the records of want, each at its partition and offset.
func requireRecords(ctx context.Context, t *testing.T, addr, topic string, want []placedRecord) {
	t.Helper()
	if len(want) == 0 {
		return
	}
	ends := map[int32]int64{}
	for _, r := range want {
		ends[r.partition] = max(ends[r.partition], r.offset+1)
	}
	offsets := map[string]map[int32]kgo.Offset{topic: {}}
	for p := range ends {
		offsets[topic][p] = kgo.NewOffset().AtStart()
	}
	consumer, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumePartitions(offsets))
	require.NoError(t, err)
	defer consumer.Close()

	// A broker that lost records has fewer to give: read until every
	// acknowledged one came, or for 15 s, then compare.
	readCtx, cancelRead := context.WithTimeout(ctx, 15*time.Second)
	defer cancelRead()
	got := map[int32][]placedRecord{}
	read := 0
	for read < len(want) && readCtx.Err() == nil {
		fetches := consumer.PollFetches(readCtx)
		for _, fe := range fetches.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				require.NoError(t, fe.Err, "read %s/%d after a restart", fe.Topic, fe.Partition)
			}
		}
		fetches.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], placedRecord{r.Partition, r.Offset, string(r.Value)})
			read++
		})
	}
	for _, w := range want {
		found := false
		for _, g := range got[w.partition] {
			if g.offset == w.offset {
				require.Equal(t, w.value, g.value, "partition %d offset %d holds another record after a restart", w.partition, w.offset)
				found = true
			}
		}
		require.True(t, found, "acknowledged record %q at partition %d offset %d is gone after a restart", w.value, w.partition, w.offset)
	}
	for p, rs := range got {
		for i := 1; i < len(rs); i++ {
			require.Greater(t, rs[i].offset, rs[i-1].offset, "partition %d: offsets not increasing", p)
		}
	}
	require.Equal(t, len(want), read, "records beyond the acknowledged ones")
}

// TestKafkaSetsAsideForgottenTopics starts the broker on a data directory
// that an older Courier left after a crash: segment files of a topic that
// topics.json does not name. Appending to them would give two records one
// offset; the broker must move them aside and start the topic clean, and
// leave the topics it knows alone.
func TestKafkaSetsAsideForgottenTopics(t *testing.T) {
	t.Parallel()
	ctx, cfg := setupKafka(t, time.Minute)
	const forgotten, kept = "devstack.forgotten", "devstack.kept"

	k, err := StartKafka(ctx, cfg)
	require.NoError(t, err)
	addr := k.Addrs()[0]
	keptRecords := produceRecords(ctx, t, addr, kept, 10, "kept")
	produceRecords(ctx, t, addr, forgotten, 10, "before the crash")
	require.NoError(t, k.Close())
	dropFromTopicList(t, cfg.DataDir, forgotten)

	k, err = StartKafka(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.Close()) })
	moved, err := filepath.Glob(filepath.Join(cfg.DataDir, forgottenDir, forgotten+"-*"))
	require.NoError(t, err)
	require.Len(t, moved, cfg.Partitions, "every partition of the forgotten topic is set aside")

	fresh := produceRecords(ctx, t, addr, forgotten, 10, "after the repair")
	for _, r := range fresh {
		require.Less(t, r.offset, int64(10), "the forgotten topic starts again at offset 0")
	}
	requireRecords(ctx, t, addr, forgotten, fresh)
	requireRecords(ctx, t, addr, kept, keptRecords)
}

// dropFromTopicList removes topic from kfake's topics.json, as a crash did
// to a topic created on first use before Courier created topics durably.
func dropFromTopicList(t *testing.T, dataDir, topic string) {
	t.Helper()
	path := filepath.Join(dataDir, "topics.json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var list map[string]any
	require.NoError(t, json.Unmarshal(b, &list))
	var keep []any
	for _, entry := range list["topics"].([]any) {
		if entry.(map[string]any)["name"] != topic {
			keep = append(keep, entry)
		}
	}
	require.Len(t, keep, len(list["topics"].([]any))-1, "%s was in topics.json", topic)
	list["topics"] = keep
	b, err = json.Marshal(list)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o644))
}
