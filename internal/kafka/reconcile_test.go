package kafka_test

import (
	"errors"
	"slices"
	"sync"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// watchProduce makes the cluster record the acks of every produce request
// and answer the partitions listed in fail with their error code.
type produceWatch struct {
	mu       sync.Mutex
	acks     []int16
	requests int
	fail     map[int32]int16
}

func watchProduce(t *testing.T, brokers []string, c *kafkatest.Cluster) *produceWatch {
	t.Helper()
	w := &produceWatch{fail: map[int32]int16{}}
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		w.mu.Lock()
		defer w.mu.Unlock()
		r := req.(*kmsg.ProduceRequest)
		w.requests++
		w.acks = append(w.acks, r.Acks)
		if len(w.fail) == 0 {
			return nil, nil, false
		}
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = w.fail[rp.Partition]
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return w
}

// The durability of the writer, as the broker sees it: every produce
// request asks for acks=all, and a failing call makes one attempt.
func TestProduceRequestsAreAcksAllAndOneAttempt(t *testing.T) {
	c, err := kafkatest.Start("jobs", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := newSink(t, kafka.Config{Brokers: c.Brokers(), Topic: "jobs"})
	w := watchProduce(t, c.Brokers(), c)
	if err := s.Publish(testContext(t), records(20, 3)); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	w.fail[0] = kerr.RequestTimedOut.Code
	before := w.requests
	w.mu.Unlock()
	err = s.Publish(testContext(t), records(5, 1))
	if err == nil {
		t.Fatal("Publish succeeded while the broker timed every request out")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if got := w.requests - before; got != 1 {
		t.Errorf("produce requests for one failing Publish: got %d, want 1 (one attempt; the pipeline owns retries)", got)
	}
	for i, a := range w.acks {
		if a != -1 {
			t.Errorf("produce request %d: acks=%d, want -1 (all in-sync replicas)", i, a)
		}
	}
	if len(w.acks) == 0 {
		t.Error("the broker saw no produce request")
	}
}

func TestRecordOutcomes(t *testing.T) {
	c, err := kafkatest.Start("jobs", 3)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s := newSink(t, kafka.Config{Brokers: c.Brokers(), Topic: "jobs"})
	w := watchProduce(t, c.Brokers(), c)
	sent := records(30, 10)
	// Partition 0 times out (unknown), partition 1 has no leader (not
	// appended), partition 2 succeeds... as far as its answer says.
	w.mu.Lock()
	w.fail[0], w.fail[1] = kerr.RequestTimedOut.Code, kerr.NotLeaderForPartition.Code
	w.mu.Unlock()
	err = s.Publish(testContext(t), sent)
	var ro pipeline.RecordOutcomes
	if !errors.As(err, &ro) {
		t.Fatalf("Publish error %v reports no record outcomes", err)
	}
	got := ro.RecordOutcomes()
	if len(got) != len(sent) {
		t.Fatalf("outcomes: got %d, want %d", len(got), len(sent))
	}
	want := map[int32]pipeline.PublishOutcome{0: pipeline.OutcomeUnknown, 1: pipeline.OutcomeNotWritten, 2: pipeline.OutcomeWritten}
	for i, r := range sent {
		if p := s.Partition(r.Key); got[i] != want[p] {
			t.Errorf("record %d (partition %d): outcome %d, want %d", i, p, got[i], want[p])
		}
	}
}

func TestReadTail(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "jobs", 3)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})
	if got := s.Partitions(); got != 3 {
		t.Fatalf("Partitions() = %d, want 3", got)
	}
	ctx := testContext(t)
	first := records(12, 4)
	if err := s.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	ends := map[int32]int64{}
	for p := range int32(3) {
		end, err := s.EndOffset(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		ends[p] = end
	}
	more := records(30, 6)[12:]
	if err := s.Publish(ctx, more); err != nil {
		t.Fatal(err)
	}
	var got []string
	for p := range int32(3) {
		recs, end, err := s.ReadTail(ctx, p, ends[p])
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Partition != p || r.Offset < ends[p] || r.Offset >= end || s.Partition([]byte(r.Key)) != p {
				t.Errorf("record %+v read from partition %d [%d, %d)", r, p, ends[p], end)
			}
			got = append(got, r.EventID)
		}
	}
	var want []string
	for _, r := range more {
		want = append(want, string(r.Headers[0].Value))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("tail event ids: got %v, want those written after the end offsets %v", got, want)
	}

	if _, _, err := s.ReadTail(ctx, 0, ends[0]+1000); !errors.Is(err, kafka.ErrTailGone) {
		t.Errorf("ReadTail past the end = %v, want ErrTailGone", err)
	}
}

func TestReadTailOfDeletedTopicIsPermanent(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "jobs", 1)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})
	ctx := testContext(t)
	admin := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: &kafkago.Transport{}}
	if res, err := admin.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{"jobs"}}); err != nil || res.Errors["jobs"] != nil {
		t.Fatalf("DeleteTopics: %v %v", err, res)
	}
	_, _, err := s.ReadTail(ctx, 0, 0)
	if err == nil || kafka.IsRetryable(err) || !errors.Is(err, kafkago.UnknownTopicOrPartition) {
		t.Errorf("ReadTail of a deleted topic = %v (retryable %t), want a permanent UNKNOWN_TOPIC_OR_PARTITION", err, kafka.IsRetryable(err))
	}
}
