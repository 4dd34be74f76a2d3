package conformance

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// kafkaView is the runner's look at the embedded broker: it creates a
// scenario's topic and reads its consumer groups, which no adapter
// reports.
type kafkaView struct {
	admin  sarama.ClusterAdmin
	client sarama.Client
}

func newKafkaView(t testing.TB, broker string) *kafkaView {
	t.Helper()
	cl, err := sarama.NewClient([]string{broker}, sarama.NewConfig())
	if err != nil {
		t.Fatal(fmt.Errorf("kafka client: %w", err))
	}
	admin, err := sarama.NewClusterAdminFromClient(cl)
	if err != nil {
		_ = cl.Close()
		t.Fatal(fmt.Errorf("kafka admin: %w", err))
	}
	// Closing the admin closes its client.
	t.Cleanup(func() { _ = admin.Close() })
	return &kafkaView{admin: admin, client: cl}
}

// createTopic creates topic with partitions partitions.
func (k *kafkaView) createTopic(topic string, partitions int32) error {
	if err := k.admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false); err != nil {
		return fmt.Errorf("create topic %s with %d partitions: %w", topic, partitions, err)
	}
	return nil
}

// waitStable waits until group is Stable with n members: a member killed
// or frozen has been removed once its session timed out, a member started
// has joined, and the partitions are assigned.
func (k *kafkaView) waitStable(group string, n int) error {
	deadline := time.Now().Add(settleWithin)
	for {
		gs, err := k.admin.DescribeConsumerGroups([]string{group})
		if err == nil && len(gs) == 1 && gs[0].State == "Stable" && len(gs[0].Members) == n {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil && len(gs) == 1 {
				return fmt.Errorf("group %s is %s with %d members after %s, want Stable with %d", group, gs[0].State, len(gs[0].Members), settleWithin, n)
			}
			return fmt.Errorf("group %s: %v after %s, want Stable with %d members", group, err, settleWithin, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitCommitted waits until group's committed offset of every partition
// of topic is the partition's end: every record, resends and duplicates
// included, was handled or passed over and its offset committed. A
// partition with no records needs no commit.
func (k *kafkaView) waitCommitted(group, topic string) error {
	deadline := time.Now().Add(settleWithin)
	for {
		behind, err := k.uncommitted(group, topic)
		if err == nil && len(behind) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("group %s's offsets of %s: %w", group, topic, err)
			}
			return fmt.Errorf("group %s's committed offsets of %s short of the end after %s (partition: committed of end): %v", group, topic, settleWithin, behind)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// uncommitted are topic's partitions whose committed offset in group is
// short of their end, each with both.
func (k *kafkaView) uncommitted(group, topic string) (map[int32]string, error) {
	if err := k.client.RefreshMetadata(topic); err != nil {
		return nil, err
	}
	ps, err := k.client.Partitions(topic)
	if err != nil {
		return nil, err
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	offsets, err := k.admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		return nil, err
	}
	behind := map[int32]string{}
	for _, p := range ps {
		end, err := k.client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, err
		}
		committed := int64(-1)
		if b := offsets.GetBlock(topic, p); b != nil {
			committed = b.Offset
		}
		if end > 0 && committed != end {
			behind[p] = fmt.Sprintf("%d of %d", committed, end)
		}
	}
	return behind, nil
}
