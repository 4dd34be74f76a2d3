package conformance

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/IBM/sarama"

	"github.com/courier-mq/courier/client"
	"github.com/courier-mq/courier/client/wire"
)

// sendPolicy spaces the resends of the consumer scenarios' messages so
// that they outlast a consumer group forming again after a member was
// killed or frozen before they go DEAD: the member's session timeout (30 s
// with kafkajs' default, 10 s with sarama's and the Python client's), then
// the rebalance (up to about 20 s on a loaded machine).
var sendPolicy = &client.Policy{ResendIntervals: slices.Repeat([]time.Duration{5 * time.Second}, 20)}

// send sends message st.Ref through Courier (no transaction), and with
// st.Duplicate writes a copy of its record to Kafka as well, as a producer
// retry the broker accepted twice would.
func (r *run) send(st Step) error {
	m := &client.Message{Topic: r.topic, Payload: []byte(`{}`), Policy: sendPolicy}
	if st.Message != nil {
		m.Key = st.Message.Key
		if st.Message.ID != "" {
			m.ID = r.id(st.Message.ID)
		}
	}
	if _, err := r.courier.Send(context.Background(), m); err != nil {
		return err
	}
	r.mu.Lock()
	r.sends[st.Ref] = m.ID
	r.mu.Unlock()
	if !st.Duplicate {
		return nil
	}
	cfg := sarama.NewConfig()
	cfg.Producer.Return.Successes = true
	p, err := sarama.NewSyncProducer([]string{r.tg.Courier.Kafka}, cfg)
	if err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	defer p.Close()
	_, _, err = p.SendMessage(&sarama.ProducerMessage{
		Topic: r.topic, Key: sarama.StringEncoder(m.Key), Value: sarama.ByteEncoder(m.Payload),
		Headers: []sarama.RecordHeader{
			{Key: []byte(wire.HeaderMessageID), Value: []byte(m.ID)},
			{Key: []byte(wire.HeaderAttempt), Value: []byte("1")},
		},
	})
	return err
}
