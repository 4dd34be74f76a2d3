package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"time"

	"github.com/courier-mq/courier/client/wire"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// placed is a record of the topic by where it is: partition, offset and the
// message id it carries.
type placed struct {
	Partition int32
	Offset    int64
	ID        string
}

// topicReport is what reading the whole topic back found.
type topicReport struct {
	// Records are the records read back by a new consumer group.
	Records int
	// Lost counts the committed messages with no record in the topic, and
	// the records the downstream received that are no longer at the offset
	// they were received at.
	Lost int
}

// checkTopic reads every partition of Topic from its start to its end, as a
// consumer that never read it would, and checks what every consumer relies
// on: the read ends without an error; offsets are strictly increasing within
// each partition; each record the downstream received is still at the offset
// it was received at (the broker forgot nothing it acknowledged and gave no
// offset twice); every committed message has a record and no other message
// has one; and kcat, a client Courier did not write, reads the same records.
func checkTopic(ctx context.Context, s *Stack, byID map[string]Message, violate func(string, ...any)) (topicReport, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	records, err := readTopic(ctx, s.KafkaAddr)
	if err != nil {
		return topicReport{}, err
	}
	rep := topicReport{Records: len(records)}
	at := map[[2]int64]string{}
	last := map[int32]int64{}
	inTopic := map[string]bool{}
	for _, r := range records {
		if prev, ok := last[r.Partition]; ok && r.Offset <= prev {
			violate("partition %d: offset %d read after offset %d", r.Partition, r.Offset, prev)
		}
		last[r.Partition] = r.Offset
		at[[2]int64{int64(r.Partition), r.Offset}] = r.ID
		inTopic[r.ID] = true
	}
	for _, id := range s.Downstream.SeenIDs() {
		for _, d := range s.Downstream.Seen(id) {
			if got, ok := at[[2]int64{int64(d.Partition), d.Offset}]; !ok || got != id {
				rep.Lost++
				violate("%s: received at partition %d offset %d, which now holds %q", id, d.Partition, d.Offset, got)
			}
		}
	}
	for id, m := range byID {
		switch {
		case m.Kind.committed() && !inTopic[id]:
			rep.Lost++
			violate("%s (%s): committed, but no record of it is in the topic", id, m.Kind)
		case !m.Kind.committed() && inTopic[id]:
			violate("%s (%s): never committed, yet a record of it is in the topic", id, m.Kind)
		}
	}

	kcat, err := kcatRecords(ctx, s.KafkaAddr)
	if err != nil {
		return rep, err
	}
	if kcat != nil && !slices.Equal(kcat, records) {
		i := 0
		for i < min(len(kcat), len(records)) && kcat[i] == records[i] {
			i++
		}
		violate("kcat read %d records, a new consumer group %d; from the %dth on they differ: kcat %s, group %s",
			len(kcat), len(records), i+1, nth(kcat, i), nth(records, i))
	}
	return rep, nil
}

// readTopic reads every partition of Topic from its start to its current end
// with a new consumer group and returns the records ordered by partition,
// then as read. Any fetch error fails the read.
func readTopic(ctx context.Context, addr string) ([]placed, error) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup(fmt.Sprintf("chaos-check-%d", time.Now().UnixNano())),
		kgo.ConsumeTopics(Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	if err != nil {
		return nil, fmt.Errorf("topic reader: %w", err)
	}
	defer cl.Close()
	ends, err := endOffsets(ctx, cl)
	if err != nil {
		return nil, err
	}
	next := map[int32]int64{}
	done := func() bool {
		for p, end := range ends {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	var out []placed
	for !done() {
		fetches := cl.PollFetches(ctx)
		for _, fe := range fetches.Errors() {
			return nil, fmt.Errorf("read %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		fetches.EachRecord(func(r *kgo.Record) {
			id := ""
			for _, h := range r.Headers {
				if h.Key == wire.HeaderMessageID {
					id = string(h.Value)
				}
			}
			out = append(out, placed{Partition: r.Partition, Offset: r.Offset, ID: id})
			next[r.Partition] = r.Offset + 1
		})
	}
	slices.SortStableFunc(out, func(a, b placed) int { return int(a.Partition) - int(b.Partition) })
	return out, nil
}

// endOffsets asks the broker for every partition of Topic and its high
// watermark.
func endOffsets(ctx context.Context, cl *kgo.Client) (map[int32]int64, error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(Topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", Topic, err)
	}
	if len(mresp.Topics) != 1 {
		return nil, fmt.Errorf("metadata of %s: %d topics in the answer", Topic, len(mresp.Topics))
	}
	if err := kerr.ErrorForCode(mresp.Topics[0].ErrorCode); err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", Topic, err)
	}
	list := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = Topic
	for _, p := range mresp.Topics[0].Partitions {
		lp := kmsg.NewListOffsetsRequestTopicPartition()
		lp.Partition = p.Partition
		lp.Timestamp = -1 // the high watermark
		lt.Partitions = append(lt.Partitions, lp)
	}
	list.Topics = append(list.Topics, lt)
	lresp, err := list.RequestWith(ctx, cl)
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", Topic, err)
	}
	ends := map[int32]int64{}
	for _, t := range lresp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return nil, fmt.Errorf("end offset of %s/%d: %w", Topic, p.Partition, err)
			}
			ends[p.Partition] = p.Offset
		}
	}
	if len(ends) != len(mresp.Topics[0].Partitions) {
		return nil, fmt.Errorf("end offsets of %s: %d partitions answered of %d", Topic, len(ends), len(mresp.Topics[0].Partitions))
	}
	return ends, nil
}

// kcatRecords reads Topic from the start to the end with kcat and returns its
// records in the order readTopic does, or nil where kcat is not installed
// (.ci/run installs it).
func kcatRecords(ctx context.Context, addr string) ([]placed, error) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		return nil, nil
	}
	out, err := exec.CommandContext(ctx, kcat, "-C", "-b", addr, "-t", Topic, "-o", "beginning", "-e", "-q", "-J").Output()
	if err != nil {
		return nil, fmt.Errorf("kcat: %w: %s", err, out)
	}
	var records []placed
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec kcatRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("kcat line %q: %w", sc.Text(), err)
		}
		p := placed{Partition: rec.Partition, Offset: rec.Offset}
		for i := 0; i+1 < len(rec.Headers); i += 2 {
			if rec.Headers[i] == wire.HeaderMessageID {
				p.ID = rec.Headers[i+1]
			}
		}
		records = append(records, p)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("kcat output: %w", err)
	}
	// kcat interleaves partitions; order it as readTopic does.
	slices.SortStableFunc(records, func(a, b placed) int { return int(a.Partition) - int(b.Partition) })
	return records, nil
}

// kcatRecord is one line of `kcat -C -J`. Headers alternate name and value.
type kcatRecord struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Key       *string  `json:"key"`
	Payload   *string  `json:"payload"`
	Headers   []string `json:"headers"`
}

// nth names the record at index i of rs for a report.
func nth(rs []placed, i int) string {
	if i >= len(rs) {
		return "none"
	}
	return strconv.Itoa(int(rs[i].Partition)) + "/" + strconv.FormatInt(rs[i].Offset, 10) + " " + rs[i].ID
}
