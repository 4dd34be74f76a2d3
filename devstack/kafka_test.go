package devstack

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/courier-mq/courier/internal/freeport"
)

func TestKafka(t *testing.T) {
	t.Parallel()
	ctx, cfg := setupKafka(t, time.Minute)
	const preCreated, autoCreated = "devstack.pre", "devstack.auto"
	cfg.Topics = []string{preCreated}

	k, err := StartKafka(ctx, cfg)
	require.NoError(t, err)
	producer, err := kgo.NewClient(kgo.SeedBrokers(k.Addrs()...), kgo.AllowAutoTopicCreation())
	require.NoError(t, err)
	results := producer.ProduceSync(ctx,
		&kgo.Record{Topic: preCreated, Key: []byte("k1"), Value: []byte("pre")},
		&kgo.Record{Topic: autoCreated, Key: []byte("k2"), Value: []byte("auto")},
	)
	require.NoError(t, results.FirstErr())
	producer.Close()
	require.NoError(t, k.Close())

	k, err = StartKafka(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, k.Close()) })
	consumer, err := kgo.NewClient(
		kgo.SeedBrokers(k.Addrs()...),
		kgo.ConsumeTopics(preCreated, autoCreated),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	require.NoError(t, err)
	defer consumer.Close()

	got := map[string]string{}
	for len(got) < 2 {
		fetches := consumer.PollFetches(ctx)
		require.NoError(t, fetches.Err())
		fetches.EachRecord(func(r *kgo.Record) { got[r.Topic] = string(r.Value) })
	}
	require.Equal(t, map[string]string{preCreated: "pre", autoCreated: "auto"}, got)

	// Both topics have cfg.Partitions, not kfake's default of 10.
	for _, topic := range []string{preCreated, autoCreated} {
		require.Equal(t, cfg.Partitions, partitionCount(t, consumer, topic), topic)
	}
}

// setupKafka is the config of a broker on a free port and a fresh data
// directory, and a context that gives the test timeout to finish.
func setupKafka(t *testing.T, timeout time.Duration) (context.Context, KafkaConfig) {
	t.Helper()
	port, err := freeport.Port(loopback)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	t.Cleanup(cancel)
	return ctx, KafkaConfig{DataDir: t.TempDir(), Port: port, Partitions: 4}
}

func partitionCount(t *testing.T, cl *kgo.Client, topic string) int {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(t.Context(), cl)
	require.NoError(t, err)
	require.Len(t, resp.Topics, 1)
	require.NoError(t, kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	return len(resp.Topics[0].Partitions)
}
