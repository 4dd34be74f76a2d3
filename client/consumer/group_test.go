package consumer_test

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/consumer"
	"github.com/courier-mq/courier/client/internal/devcourier"
	"github.com/courier-mq/courier/client/internal/testdb"
	"github.com/courier-mq/courier/client/wire"
)

// TestGroupSurvivesKilledMembers is issue 30: three members of one consumer
// group, each a process of its own on the default configuration, read an
// 8-partition topic of `courier dev` while members are killed with kill -9
// at random moments and started again, one is killed in its first
// JoinGroup and left dead, and one is frozen past its session timeout and
// then resumed. Every message must be handled exactly once, be COMPLETED in
// Courier, and every partition's committed offset must reach its end.
func TestGroupSurvivesKilledMembers(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	ctx := t.Context()
	// A run of its own topic and group, so that -count runs it again.
	topic := fmt.Sprintf("group-kills-%d", rng.Uint32())
	group := topic
	const (
		partitions = 8
		n          = 300
		sendPace   = 250 * time.Millisecond // n of them take 75 s, as long as the kills
	)
	db := testdb.Open(t, "mysql")
	testdb.Exec(t, db.DB, "CREATE TABLE effects (run_id VARCHAR(64) PRIMARY KEY, message_id VARCHAR(128) NOT NULL)")
	c := courier.Client(t)
	migrate, err := consumer.New(consumer.Config{Brokers: []string{courier.Kafka}, Topics: []string{topic}, Name: group, Courier: c, DB: db.DB})
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	kafka := newKafkaView(t, topic, group)
	kafka.createTopic(t, partitions)

	bin := buildGroupMember(t)
	start := func() *member {
		return startMember(t, bin, "--brokers", courier.Kafka, "--topic", topic, "--group", group, "--courier", courier.URL, "--mysql", db.DSN)
	}
	members := []*member{start(), start(), start()}
	kafka.waitStable(t, 3)

	// Messages go out while the members are killed. Their resends outlast
	// the test, so that a message is DEAD only if its group never formed.
	policy := &client.Policy{ResendIntervals: slices.Repeat([]time.Duration{10 * time.Second}, 30)}
	ids := make([]string, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	var sends sync.WaitGroup
	sendErrs := make(chan error, n)
	// Paced over the kills below, so that records arrive while the group
	// rebalances, waits on dead members and has one frozen.
	sendStart := time.Now()
	for range 4 {
		sends.Go(func() {
			for i := range next {
				time.Sleep(time.Until(sendStart.Add(time.Duration(i) * sendPace)))
				m := &client.Message{Topic: topic, Key: fmt.Sprint(i), Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)), Policy: policy}
				if _, err := c.Send(ctx, m); err != nil {
					sendErrs <- err
				}
				ids[i] = m.ID
			}
		})
	}

	// Kill -9 at random moments, each member started again at once.
	for range 3 {
		time.Sleep(time.Duration(500+rng.IntN(3000)) * time.Millisecond)
		i := rng.IntN(len(members))
		t.Logf("kill -9 member %d", i)
		members[i].kill(t)
		members[i] = start()
	}
	// A fourth member killed in its first JoinGroup and left dead, twice:
	// the other members must not wait for it. (The broker kept such a
	// member when its JoinGroup answer found the connection closed, a coin
	// toss in kfake; twice makes the old failure likely.)
	for range 2 {
		kafka.waitStable(t, 3)
		before := kafka.memberIDs(t)
		newcomer := start()
		kafka.waitMember(t, before)
		t.Log("kill -9 a fourth member in its first JoinGroup")
		newcomer.kill(t)
		killed := time.Now()
		kafka.waitStable(t, 3)
		t.Logf("group stable with its 3 live members %s after the kill in JoinGroup", time.Since(killed).Round(100*time.Millisecond))
	}
	// One frozen past its session timeout (sarama's default, 10 s), then
	// resumed: its partitions go to the others while it sleeps, and what
	// it was handling must not be handled twice.
	time.Sleep(time.Duration(rng.IntN(2000)) * time.Millisecond)
	frozen := members[rng.IntN(len(members))]
	t.Log("SIGSTOP a member for 14 s")
	frozen.signal(t, syscall.SIGSTOP)
	time.Sleep(14 * time.Second)
	frozen.signal(t, syscall.SIGCONT)
	lastChaos := time.Now()

	sends.Wait()
	close(sendErrs)
	for err := range sendErrs {
		t.Fatal(err)
	}
	deadline := lastChaos.Add(2 * time.Minute)
	handled, doubles := 0, 0
	for {
		if err := db.DB.QueryRowContext(ctx, "SELECT COUNT(DISTINCT message_id), COUNT(*) - COUNT(DISTINCT message_id) FROM effects").Scan(&handled, &doubles); err != nil {
			t.Fatal(err)
		}
		if doubles > 0 {
			t.Fatalf("%d messages were handled twice", doubles)
		}
		if handled == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages handled %s after the frozen member resumed; group: %s", handled, n, time.Since(lastChaos).Round(time.Second), kafka.describe(t))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("every message handled %s after the frozen member resumed", time.Since(lastChaos).Round(100*time.Millisecond))
	for _, id := range ids {
		devcourier.WaitStatusUntil(t, c, id, wire.StatusCompleted, deadline)
	}
	for {
		behind := kafka.uncommitted(t, partitions)
		if len(behind) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("committed offsets short of the partitions' ends: %v", behind)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("every message COMPLETED and every offset committed %s after the frozen member resumed", time.Since(lastChaos).Round(100*time.Millisecond))
	// Courier sends no more, and a further read must not handle anything
	// again: the doubles are counted once more at the end.
	if err := db.DB.QueryRowContext(ctx, "SELECT COUNT(*) - COUNT(DISTINCT message_id) FROM effects").Scan(&doubles); err != nil {
		t.Fatal(err)
	}
	if doubles > 0 {
		t.Fatalf("%d messages were handled twice", doubles)
	}
}

// buildGroupMember builds the member program of internal/groupmember.
func buildGroupMember(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "groupmember")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/courier-mq/courier/client/internal/groupmember").CombinedOutput()
	if err != nil {
		t.Fatalf("build groupmember: %v\n%s", err, out)
	}
	return bin
}

// member is one running groupmember process.
type member struct {
	cmd    *exec.Cmd
	log    *devcourier.Output
	exited chan struct{}
}

func startMember(t *testing.T, bin string, args ...string) *member {
	t.Helper()
	m := &member{cmd: exec.Command(bin, args...), log: &devcourier.Output{}, exited: make(chan struct{})}
	m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = m.cmd.Wait(); close(m.exited) }()
	t.Cleanup(func() {
		_ = m.cmd.Process.Signal(syscall.SIGCONT)
		m.kill(t)
		if t.Failed() {
			t.Logf("member %d:\n%s", m.cmd.Process.Pid, m.log.String())
		}
	})
	return m
}

// kill ends the process with SIGKILL, as a crash does: no LeaveGroup, no
// commit, its transactions cut off.
func (m *member) kill(t *testing.T) {
	t.Helper()
	_ = m.cmd.Process.Kill()
	<-m.exited
}

func (m *member) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := m.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// kafkaView is the test's look at the group and the topic.
type kafkaView struct {
	admin        sarama.ClusterAdmin
	client       sarama.Client
	topic, group string
}

func newKafkaView(t *testing.T, topic, group string) *kafkaView {
	t.Helper()
	cfg := sarama.NewConfig()
	cl, err := sarama.NewClient([]string{courier.Kafka}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return &kafkaView{admin: admin, client: cl, topic: topic, group: group}
}

func (k *kafkaView) createTopic(t *testing.T, partitions int32) {
	t.Helper()
	if err := k.admin.CreateTopic(k.topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		t.Fatal(err)
	}
}

func (k *kafkaView) description(t *testing.T) *sarama.GroupDescription {
	t.Helper()
	gs, err := k.admin.DescribeConsumerGroups([]string{k.group})
	if err != nil {
		t.Fatal(err)
	}
	return gs[0]
}

func (k *kafkaView) describe(t *testing.T) string {
	g := k.description(t)
	return fmt.Sprintf("%s with %d members", g.State, len(g.Members))
}

func (k *kafkaView) memberIDs(t *testing.T) map[string]bool {
	ids := map[string]bool{}
	for id := range k.description(t).Members {
		ids[id] = true
	}
	return ids
}

// waitStable waits for the group to be Stable with n members, for up to
// two minutes.
func (k *kafkaView) waitStable(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		g := k.description(t)
		if g.State == "Stable" && len(g.Members) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group is %s with %d members, want Stable with %d", g.State, len(g.Members), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitMember waits for a member not in before: one that sent its JoinGroup
// and waits in it for the rebalance to end.
func (k *kafkaView) waitMember(t *testing.T, before map[string]bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		for id := range k.description(t).Members {
			if !before[id] {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the new member did not join")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// uncommitted are the partitions whose committed offset is short of their
// end, each with both.
func (k *kafkaView) uncommitted(t *testing.T, partitions int32) map[int32]string {
	t.Helper()
	var ps []int32
	for p := range partitions {
		ps = append(ps, p)
	}
	offsets, err := k.admin.ListConsumerGroupOffsets(k.group, map[string][]int32{k.topic: ps})
	if err != nil {
		t.Fatal(err)
	}
	behind := map[int32]string{}
	for _, p := range ps {
		end, err := k.client.GetOffset(k.topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		committed := int64(-1)
		if b := offsets.GetBlock(k.topic, p); b != nil {
			committed = b.Offset
		}
		if committed != end {
			behind[p] = fmt.Sprintf("%d of %d", committed, end)
		}
	}
	return behind
}
