package devstack

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestKafkaGroupOutlivesMemberDeadInJoin is issue 30's minimal case: two
// members consume a topic; a third joins and dies in its JoinGroup, before
// the broker could answer it. The two live members must take over every
// partition: kfake alone kept the dead member, with partitions assigned, for
// ever, and records on those partitions were never read. kfake keeps it
// only when its answer finds the connection closed, a coin toss in its
// reply, so three members die one after the other: the old failure, 7 in 8.
func TestKafkaGroupOutlivesMemberDeadInJoin(t *testing.T) {
	t.Parallel()
	ctx, cfg := setupKafka(t, 2*time.Minute)
	const topic, group = "devstack.group", "survivors"
	cfg.Topics = []string{topic}
	k, err := StartKafka(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.Close()) })

	read := &partitionsRead{seen: map[int32]bool{}}
	sc := sarama.NewConfig()
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	sc.Consumer.Group.Session.Timeout = 6 * time.Second
	sc.Consumer.Group.Heartbeat.Interval = time.Second
	sc.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	for range 2 {
		cg, err := sarama.NewConsumerGroup(k.Addrs(), group, sc)
		require.NoError(t, err)
		t.Cleanup(func() { _ = cg.Close() })
		go func() {
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{topic}, read); err != nil {
					time.Sleep(time.Second)
				}
			}
		}()
	}
	producer, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	require.NoError(t, err)
	defer producer.Close()
	for death := 1; death <= 3; death++ {
		formed, err := k.cluster.WaitGroupStable(ctx, group, 2)
		require.NoError(t, err)
		dieInJoin(ctx, t, k, group, topic)
		// The live members joined again and the group formed with the
		// dead one, which got partitions: the records go out after
		// that, so that the sessions from before the join cannot read
		// them.
		_, err = k.cluster.WaitGroupInfo(ctx, group, func(g *kfake.GroupInfo) bool {
			return g != nil && g.State == "Stable" && g.Epoch > formed.Epoch
		})
		require.NoError(t, err)
		read.reset()
		for p := range int32(cfg.Partitions) {
			require.NoError(t, producer.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte("after")}).FirstErr())
		}
		for !read.all(cfg.Partitions) {
			if ctx.Err() != nil {
				t.Fatalf("partitions read after death %d: %v of %d; group %+v", death, read.partitions(), cfg.Partitions, k.cluster.GroupInfo(group))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// dieInJoin joins group as a new member, and closes its connection while
// its JoinGroup waits for the rebalance, as a process killed there does.
func dieInJoin(ctx context.Context, t *testing.T, k *Kafka, group, topic string) {
	t.Helper()
	before := len(k.cluster.GroupInfo(group).Members)
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...))
	require.NoError(t, err)
	defer cl.Close()
	joinAndWait(ctx, t, cl, group, topic)
	_, err = k.cluster.WaitGroupInfo(ctx, group, func(g *kfake.GroupInfo) bool { return g != nil && len(g.Members) == before+1 })
	require.NoError(t, err)
}

// joinAndWait sends the JoinGroup of a new member, and its second, which
// waits for the rebalance, in the background.
func joinAndWait(ctx context.Context, t *testing.T, cl *kgo.Client, group, topic string) {
	t.Helper()
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group = group
	join.SessionTimeoutMillis = 6000
	join.RebalanceTimeoutMillis = 10000
	join.ProtocolType = "consumer"
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Topics = []string{topic}
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name = "range" // sarama's default, so that the group accepts it
	proto.Metadata = meta.AppendTo(nil)
	join.Protocols = append(join.Protocols, proto)
	resp, err := join.RequestWith(ctx, cl)
	require.NoError(t, err)
	require.ErrorIs(t, kerr.ErrorForCode(resp.ErrorCode), kerr.MemberIDRequired)
	join.MemberID = resp.MemberID
	go func() { _, _ = join.RequestWith(ctx, cl) }() // answered never, or to a closed connection
}

// partitionsRead is a consumer group handler noting the partitions it read
// records from.
type partitionsRead struct {
	mu   sync.Mutex
	seen map[int32]bool
}

func (r *partitionsRead) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (r *partitionsRead) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (r *partitionsRead) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for rec := range claim.Messages() {
		r.mu.Lock()
		r.seen[rec.Partition] = true
		r.mu.Unlock()
		sess.MarkMessage(rec, "")
	}
	return nil
}

func (r *partitionsRead) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.seen)
}

func (r *partitionsRead) all(n int) bool { return len(r.partitions()) == n }

func (r *partitionsRead) partitions() []int32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ps []int32
	for p := range r.seen {
		ps = append(ps, p)
	}
	return ps
}
