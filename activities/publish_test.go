package activities_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/courier-mq/courier/activities"
	"github.com/courier-mq/courier/client/wire"
)

const (
	topic      = "orders"
	partitions = 3
)

// kafkaBundle is one in-process Kafka broker with a Courier producer on it.
type kafkaBundle struct {
	cluster *kfake.Cluster
	brokers []string
	acts    *activities.Activities
	env     *testsuite.TestActivityEnvironment
}

// setupKafka starts a one-broker kfake cluster holding the topic "orders"
// with three partitions (no auto-creation) and a producer built by
// NewProducer from cfg, with cfg.Brokers filled in.
func setupKafka(t *testing.T, cfg activities.ProducerConfig, opts ...kfake.Opt) *kafkaBundle {
	t.Helper()
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic)}, opts...)
	cluster, err := kfake.NewCluster(opts...)
	require.NoError(t, err)
	t.Cleanup(cluster.Close)

	cfg.Brokers = cluster.ListenAddrs()
	producer, err := activities.NewProducer(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, producer.Close()) })

	acts := &activities.Activities{Producer: producer}
	env := (&testsuite.WorkflowTestSuite{}).NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return &kafkaBundle{cluster: cluster, brokers: cfg.Brokers, acts: acts, env: env}
}

// publish runs the Publish activity the way a worker would.
func (b *kafkaBundle) publish(in activities.PublishInput) (activities.PublishResult, error) {
	val, err := b.env.ExecuteActivity(b.acts.Publish, in)
	if err != nil {
		return activities.PublishResult{}, err
	}
	var res activities.PublishResult
	if err := val.Get(&res); err != nil {
		return activities.PublishResult{}, err
	}
	return res, nil
}

// read consumes the first n records of one partition with a sarama consumer.
func (b *kafkaBundle) read(t *testing.T, partition int32, n int) []*sarama.ConsumerMessage {
	t.Helper()
	consumer, err := sarama.NewConsumer(b.brokers, sarama.NewConfig())
	require.NoError(t, err)
	defer func() { require.NoError(t, consumer.Close()) }()
	pc, err := consumer.ConsumePartition(topic, partition, sarama.OffsetOldest)
	require.NoError(t, err)
	defer func() { require.NoError(t, pc.Close()) }()

	var got []*sarama.ConsumerMessage
	for len(got) < n {
		select {
		case m := <-pc.Messages():
			got = append(got, m)
		case err := <-pc.Errors():
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			require.FailNowf(t, "partition not read", "read %d of %d records of partition %d", len(got), n, partition)
		}
	}
	return got
}

// recordCount is how many records a partition holds.
func (b *kafkaBundle) recordCount(t *testing.T, partition int32) int64 {
	t.Helper()
	client, err := sarama.NewClient(b.brokers, sarama.NewConfig())
	require.NoError(t, err)
	defer func() { require.NoError(t, client.Close()) }()
	newest, err := client.GetOffset(topic, partition, sarama.OffsetNewest)
	require.NoError(t, err)
	oldest, err := client.GetOffset(topic, partition, sarama.OffsetOldest)
	require.NoError(t, err)
	return newest - oldest
}

// headers turns a record's headers into a map, failing on a repeated name.
func headers(t *testing.T, m *sarama.ConsumerMessage) map[string]string {
	t.Helper()
	out := make(map[string]string, len(m.Headers))
	for _, h := range m.Headers {
		_, dup := out[string(h.Key)]
		require.Falsef(t, dup, "header %q appears twice", h.Key)
		out[string(h.Key)] = string(h.Value)
	}
	return out
}

// requireRejected asserts err is the permanent publish failure the workflow
// turns into DEAD.
func requireRejected(t *testing.T, err error, contains string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, activities.ErrTypePublishRejected, appErr.Type())
	require.True(t, appErr.NonRetryable(), "a rejected publish must not be retried")
	require.ErrorContains(t, err, contains)
}

// requireRetryable asserts err is a failure the retry policy retries.
func requireRetryable(t *testing.T, err error, contains string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.NotEqual(t, activities.ErrTypePublishRejected, appErr.Type())
	require.False(t, appErr.NonRetryable(), "a transient publish failure must be retried")
	require.ErrorContains(t, err, contains)
}

func TestPublishKeepsKeyOrderAndHeaders(t *testing.T) {
	t.Parallel()
	b := setupKafka(t, activities.ProducerConfig{})

	// Interleave sends of four keys; each key's sends must share a partition
	// and keep their order there.
	keys := []string{"order-1", "order-2", "customer-42", "21"}
	type sent struct {
		in  activities.PublishInput
		res activities.PublishResult
	}
	var sends []sent
	for round := range 3 {
		for _, key := range keys {
			in := activities.PublishInput{
				MessageID: fmt.Sprintf("%s-%d", key, round),
				Topic:     topic,
				Key:       key,
				Payload:   []byte(fmt.Sprintf(`{"key":%q,"round":%d}`, key, round)),
				Headers:   map[string]string{"trace-id": "t-" + key, "content-type": "application/json"},
				Attempt:   round + 1,
			}
			res, err := b.publish(in)
			require.NoError(t, err)
			sends = append(sends, sent{in, res})
		}
	}

	// Every key is on the partition the Java client's default partitioner
	// (murmur2, which franz-go also uses) picks, so other producers agree.
	javaPartitioner := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	byPartition := map[int32][]sent{}
	for _, s := range sends {
		want := javaPartitioner.Partition(&kgo.Record{Key: []byte(s.in.Key)}, partitions)
		require.EqualValuesf(t, want, s.res.Partition, "partition of key %q", s.in.Key)
		byPartition[s.res.Partition] = append(byPartition[s.res.Partition], s)
	}

	// Each partition holds its sends in send order, so every key's order holds.
	for partition, want := range byPartition {
		got := b.read(t, partition, len(want))
		for i, m := range got {
			in := want[i].in
			require.Equal(t, want[i].res.Offset, m.Offset)
			require.Equal(t, in.Key, string(m.Key))
			require.Equal(t, in.Payload, m.Value)
			require.Equal(t, map[string]string{
				"trace-id":           "t-" + in.Key,
				"content-type":       "application/json",
				wire.HeaderMessageID: in.MessageID,
				wire.HeaderAttempt:   fmt.Sprint(in.Attempt),
			}, headers(t, m))
		}
	}
}

func TestPublishCourierHeadersOverrideUserHeaders(t *testing.T) {
	t.Parallel()
	b := setupKafka(t, activities.ProducerConfig{})

	res, err := b.publish(activities.PublishInput{
		MessageID: "m-1",
		Topic:     topic,
		Key:       "k",
		Payload:   []byte("p"),
		Headers: map[string]string{
			wire.HeaderMessageID: "spoofed",
			"Courier-Attempt":    "99",
			"COURIER-PRODUCER":   "billing",
			"x-user":             "kept",
		},
		Producer: "orders",
		Attempt:  2,
	})
	require.NoError(t, err)

	got := b.read(t, res.Partition, 1)
	require.Equal(t, map[string]string{
		"x-user":             "kept",
		wire.HeaderMessageID: "m-1",
		wire.HeaderAttempt:   "2",
		wire.HeaderProducer:  "orders",
	}, headers(t, got[0]))
}

func TestPublishEmptyKeyIsNullKey(t *testing.T) {
	t.Parallel()
	b := setupKafka(t, activities.ProducerConfig{})

	res, err := b.publish(activities.PublishInput{MessageID: "m-1", Topic: topic, Payload: []byte("p"), Attempt: 1})
	require.NoError(t, err)

	got := b.read(t, res.Partition, 1)
	require.Nil(t, got[0].Key, "an empty key must go out as a null key")
	require.Equal(t, []byte("p"), got[0].Value)
}

func TestPublishIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setupKafka(t, activities.ProducerConfig{})

	// Watch the produce requests on the wire: acks from all replicas and a
	// producer id, which makes the broker drop a retried batch it already has.
	acks := make(chan int16, 16)
	producerIDs := make(chan int64, 16)
	b.cluster.ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		b.cluster.KeepControl()
		req := kreq.(*kmsg.ProduceRequest)
		acks <- req.Acks
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				var batch kmsg.RecordBatch
				if err := batch.ReadFrom(rp.Records); err == nil {
					producerIDs <- batch.ProducerID
				}
			}
		}
		return nil, nil, false
	})
	// The broker appends the first batch, then answers as if it had not: the
	// producer resends the same batch, and the broker must not store it twice.
	b.cluster.Fault(kfake.Fault{
		Keys:  []kmsg.Key{kmsg.Produce},
		Topic: topic,
		Err:   kerr.NotEnoughReplicasAfterAppend,
		Count: 1,
	})

	res, err := b.publish(activities.PublishInput{MessageID: "m-1", Topic: topic, Key: "k", Payload: []byte("once"), Attempt: 1})
	require.NoError(t, err)
	require.Equal(t, int64(1), b.recordCount(t, res.Partition), "the resent batch was stored twice")
	require.Equal(t, []byte("once"), b.read(t, res.Partition, 1)[0].Value)

	require.GreaterOrEqual(t, len(acks), 2, "the producer did not resend the batch")
	for len(acks) > 0 {
		require.EqualValues(t, -1, <-acks, "produce requests must wait for all in-sync replicas")
	}
	for len(producerIDs) > 0 {
		require.GreaterOrEqual(t, <-producerIDs, int64(0), "produce batches must carry a producer id")
	}
}

func TestPublishTooLargeForBrokerIsRejected(t *testing.T) {
	t.Parallel()
	b := setupKafka(t, activities.ProducerConfig{}, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "1024"}))

	_, err := b.publish(activities.PublishInput{
		MessageID: "m-big", Topic: topic, Key: "k", Payload: make([]byte, 4096), Attempt: 1,
	})
	requireRejected(t, err, "m-big")
	requireRejected(t, err, sarama.ErrMessageSizeTooLarge.Error())

	for p := range int32(partitions) {
		require.Zero(t, b.recordCount(t, p))
	}

	// The rejection leaves the idempotent producer's sequence for that
	// partition intact: the next message with the same key goes through.
	res, err := b.publish(activities.PublishInput{MessageID: "m-small", Topic: topic, Key: "k", Payload: []byte("p"), Attempt: 1})
	require.NoError(t, err)
	require.Equal(t, []byte("p"), b.read(t, res.Partition, 1)[0].Value)
}

func TestPublishTooLargeForProducerIsRejected(t *testing.T) {
	t.Parallel()
	b := setupKafka(t, activities.ProducerConfig{MaxMessageBytes: 1024})

	_, err := b.publish(activities.PublishInput{
		MessageID: "m-big", Topic: topic, Key: "k", Payload: make([]byte, 4096), Attempt: 1,
	})
	requireRejected(t, err, "Producer.MaxMessageBytes")
}

func TestPublishUnknownTopicIsRetried(t *testing.T) {
	t.Parallel()
	b := setupKafka(t, activities.ProducerConfig{})

	_, err := b.publish(activities.PublishInput{MessageID: "m-1", Topic: "not-created-yet", Payload: []byte("p"), Attempt: 1})
	requireRetryable(t, err, sarama.ErrUnknownTopicOrPartition.Error())
	requireRetryable(t, err, "publish m-1 to not-created-yet")
}

func TestPublishClassifiesBrokerErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err       *kerr.Error
		permanent bool
	}{
		{kerr.TopicAuthorizationFailed, true},
		{kerr.ClusterAuthorizationFailed, true},
		{kerr.InvalidTopicException, true},
		{kerr.InvalidRecord, true},
		{kerr.CorruptMessage, true},
		{kerr.InvalidTimestamp, true},
		{kerr.RecordListTooLarge, true},
		{kerr.NotEnoughReplicas, false},
		{kerr.NotLeaderForPartition, false},
		{kerr.RequestTimedOut, false},
		{kerr.PolicyViolation, false},
	} {
		t.Run(tc.err.Message, func(t *testing.T) {
			t.Parallel()
			b := setupKafka(t, activities.ProducerConfig{})
			// The broker answers every produce to the topic with this code.
			fault := b.cluster.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: tc.err, Count: -1})

			_, err := b.publish(activities.PublishInput{MessageID: "m-1", Topic: topic, Key: "k", Payload: []byte("p"), Attempt: 1})
			want := sarama.KError(tc.err.Code).Error()
			if tc.permanent {
				requireRejected(t, err, want)
			} else {
				requireRetryable(t, err, want)
			}

			// Once the broker accepts again, the same producer sends the
			// next message, as the workflow's retry or the next message needs.
			fault.Remove()
			res, err := b.publish(activities.PublishInput{MessageID: "m-2", Topic: topic, Key: "k", Payload: []byte("p2"), Attempt: 1})
			require.NoError(t, err)
			// After REQUEST_TIMED_OUT the first record may have landed too,
			// as it may with a real broker.
			got := b.read(t, res.Partition, int(res.Offset)+1)
			require.Equal(t, []byte("p2"), got[res.Offset].Value)
		})
	}
}

func TestProducerSaramaConfig(t *testing.T) {
	t.Parallel()

	sc, err := activities.ProducerSaramaConfig(activities.ProducerConfig{Brokers: []string{"localhost:9092"}})
	require.NoError(t, err)
	require.True(t, sc.Producer.Idempotent)
	require.Equal(t, sarama.WaitForAll, sc.Producer.RequiredAcks)
	require.Equal(t, 1, sc.Net.MaxOpenRequests)
	require.Equal(t, activities.DefaultClientID, sc.ClientID)
	require.Equal(t, sarama.V2_8_0_0, sc.Version)
	require.Equal(t, activities.DefaultMaxMessageBytes, sc.Producer.MaxMessageBytes)

	_, err = activities.ProducerSaramaConfig(activities.ProducerConfig{})
	require.ErrorContains(t, err, "no brokers")
	_, err = activities.ProducerSaramaConfig(activities.ProducerConfig{Brokers: []string{"b:9092"}, Version: "banana"})
	require.ErrorContains(t, err, "banana")
	_, err = activities.ProducerSaramaConfig(activities.ProducerConfig{Brokers: []string{"b:9092"}, Version: "0.10.2.0"})
	require.ErrorContains(t, err, "Idempotent producer requires Version")
	_, err = activities.ProducerSaramaConfig(activities.ProducerConfig{Brokers: []string{"b:9092"}, MaxMessageBytes: -1})
	require.Error(t, err)
}
