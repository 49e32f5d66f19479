package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

const readTimeout = 15 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newSink(t testing.TB, cfg kafka.Config) *kafka.Sink {
	t.Helper()
	s, err := kafka.NewSink(testContext(t), cfg)
	if err != nil {
		t.Fatalf("NewSink: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// records makes n records over keys distinct asset handles, with the
// headers the producer sets; records of the same key come in order.
func records(n, keys int) []pipeline.Record {
	out := make([]pipeline.Record, n)
	for i := range out {
		key := fmt.Sprintf("a|732|1|%d", 500+i%keys)
		eventID := fmt.Sprintf("%032x", i)
		out[i] = pipeline.Record{
			Key:   []byte(key),
			Value: []byte(fmt.Sprintf("value %d of %s \x00\xff", i, key)),
			Headers: []pipeline.Header{
				{Key: "event-id", Value: []byte(eventID)},
				{Key: "content-type", Value: []byte("application/vnd.apache.avro+binary")},
			},
		}
	}
	return out
}

// javaMurmur2 is org.apache.kafka.common.utils.Utils.murmur2.
func javaMurmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	length := len(data)
	h := seed ^ uint32(length)
	for i := 0; i < length/4; i++ {
		i4 := i * 4
		k := uint32(data[i4]) | uint32(data[i4+1])<<8 | uint32(data[i4+2])<<16 | uint32(data[i4+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := length &^ 3
	switch length % 4 {
	case 3:
		h ^= uint32(data[tail+2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[tail+1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[tail])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// javaPartition is the partition the Java producer's default partitioner
// picks for a non-null key: toPositive(murmur2(key)) % partitions.
func javaPartition(key []byte, partitions int) int {
	return int(uint32(javaMurmur2(key))&0x7fffffff) % partitions
}

func TestJavaMurmur2MatchesKafkaTestVectors(t *testing.T) {
	// From Kafka's UtilsTest.testMurmur2.
	cases := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for in, want := range cases {
		if got := javaMurmur2([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
}

func headerMap(hs []kafkago.Header) map[string]string {
	m := make(map[string]string, len(hs))
	for _, h := range hs {
		m[h.Key] = string(h.Value)
	}
	return m
}

// checkReadBack compares what was read with what was published: every
// record once, same key, value and headers, on the Java partition of its
// key, and records of one key in publish order.
func checkReadBack(t *testing.T, sent []pipeline.Record, got []kafkago.Message, partitions int) {
	t.Helper()
	if len(got) != len(sent) {
		t.Fatalf("read %d records, want %d", len(got), len(sent))
	}
	byEvent := make(map[string]pipeline.Record, len(sent))
	order := make(map[string][]string) // key -> event ids in publish order
	for _, r := range sent {
		id := string(r.Headers[0].Value)
		byEvent[id] = r
		order[string(r.Key)] = append(order[string(r.Key)], id)
	}
	gotOrder := make(map[string][]string)
	for _, m := range got {
		h := headerMap(m.Headers)
		id := h["event-id"]
		want, ok := byEvent[id]
		if !ok {
			t.Errorf("partition %d offset %d: unexpected or duplicate event-id %q", m.Partition, m.Offset, id)
			continue
		}
		delete(byEvent, id)
		if !bytes.Equal(m.Key, want.Key) {
			t.Errorf("event %s: key %q, want %q", id, m.Key, want.Key)
		}
		if !bytes.Equal(m.Value, want.Value) {
			t.Errorf("event %s: value %q, want %q", id, m.Value, want.Value)
		}
		if len(m.Headers) != len(want.Headers) {
			t.Errorf("event %s: %d headers, want %d", id, len(m.Headers), len(want.Headers))
		}
		for _, wh := range want.Headers {
			if h[wh.Key] != string(wh.Value) {
				t.Errorf("event %s: header %s = %q, want %q", id, wh.Key, h[wh.Key], wh.Value)
			}
		}
		if p := javaPartition(m.Key, partitions); m.Partition != p {
			t.Errorf("event %s key %q: partition %d, want %d (murmur2 like Java)", id, m.Key, m.Partition, p)
		}
		gotOrder[string(m.Key)] = append(gotOrder[string(m.Key)], id)
	}
	for key, ids := range order {
		if fmt.Sprint(gotOrder[key]) != fmt.Sprint(ids) {
			t.Errorf("key %q: order %v, want %v", key, gotOrder[key], ids)
		}
	}
}

func TestPublish(t *testing.T) {
	const partitions = 4
	brokers, _ := kafkatest.NewCluster(t, "jobs", partitions)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})

	t.Run("writes every record on the Java partition of its key", func(t *testing.T) {
		sent := records(60, 13)
		if err := s.Publish(testContext(t), sent); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		got := kafkatest.ReadAll(t, brokers, "jobs", len(sent), readTimeout)
		checkReadBack(t, sent, got, partitions)
	})

	t.Run("empty slice is a no-op", func(t *testing.T) {
		if err := s.Publish(testContext(t), nil); err != nil {
			t.Fatalf("Publish(nil) = %v, want nil", err)
		}
	})
}

func TestPublishConcurrent(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "jobs", 3)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})
	all := records(80, 80)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(part []pipeline.Record) {
			defer wg.Done()
			errs <- s.Publish(testContext(t), part)
		}(all[g*10 : g*10+10])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	checkReadBack(t, all, kafkatest.ReadAll(t, brokers, "jobs", len(all), readTimeout), 3)
}

func TestCompressionRoundTrip(t *testing.T) {
	for _, codec := range []string{"none", "gzip", "snappy", "lz4", "zstd"} {
		t.Run(codec, func(t *testing.T) {
			brokers, _ := kafkatest.NewCluster(t, "jobs", 2)
			s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs", Compression: codec})
			sent := records(25, 5)
			// Compressible values, so that the codec has something to do.
			for i := range sent {
				sent[i].Value = append(sent[i].Value, bytes.Repeat([]byte("IPSJobLog.gcUploadWarning "), 20)...)
			}
			if err := s.Publish(testContext(t), sent); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			checkReadBack(t, sent, kafkatest.ReadAll(t, brokers, "jobs", len(sent), readTimeout), 2)
		})
	}
}

func TestNewSinkMissingTopic(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "other", 1)
	_, err := kafka.NewSink(testContext(t), kafka.Config{Brokers: brokers, Topic: "ips.asset-job-logs"})
	if !errors.Is(err, kafka.ErrTopicNotFound) {
		t.Fatalf("NewSink error = %v, want ErrTopicNotFound", err)
	}
	for _, want := range []string{`"ips.asset-job-logs"`, brokers[0]} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if kafka.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
}

func TestNewSinkCreateTopic(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "other", 1)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "created", CreateTopic: true, Partitions: 3, ReplicationFactor: 1})

	sent := records(30, 7)
	if err := s.Publish(testContext(t), sent); err != nil {
		t.Fatalf("Publish to created topic: %v", err)
	}
	checkReadBack(t, sent, kafkatest.ReadAll(t, brokers, "created", len(sent), readTimeout), 3)

	t.Run("existing topic is kept", func(t *testing.T) {
		s2 := newSink(t, kafka.Config{Brokers: brokers, Topic: "created", CreateTopic: true, Partitions: 5})
		if err := s2.Ready(testContext(t)); err != nil {
			t.Fatalf("Ready: %v", err)
		}
		got := kafkatest.ReadAll(t, brokers, "created", len(sent), readTimeout)
		if len(got) != len(sent) {
			t.Errorf("topic holds %d records after a second CreateTopic, want %d", len(got), len(sent))
		}
	})
}

func TestNewSinkBrokerUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there any more

	_, err = kafka.NewSink(testContext(t), kafka.Config{Brokers: []string{addr}, DialTimeout: time.Second})
	if err == nil {
		t.Fatal("NewSink succeeded with no broker")
	}
	if !kafka.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = false, want true", err)
	}
	if errors.Is(err, kafka.ErrTopicNotFound) {
		t.Errorf("error %v is ErrTopicNotFound, want a connection error", err)
	}
}

func TestNewSinkInvalidConfig(t *testing.T) {
	_, err := kafka.NewSink(testContext(t), kafka.Config{Compression: "brotli"})
	var cerr *kafka.ConfigError
	if !errors.As(err, &cerr) || cerr.Field != "Compression" {
		t.Fatalf("NewSink error = %v, want a ConfigError on Compression", err)
	}
}

func TestClose(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "jobs", 1)
	s, err := kafka.NewSink(testContext(t), kafka.Config{Brokers: brokers, Topic: "jobs"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	err = s.Publish(testContext(t), records(1, 1))
	if !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if kafka.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
	if err := s.Ready(testContext(t)); !errors.Is(err, kafka.ErrClosed) {
		t.Errorf("Ready after Close = %v, want ErrClosed", err)
	}
}

func TestReadyAndPing(t *testing.T) {
	c, err := kafkatest.Start("jobs", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := newSink(t, kafka.Config{Brokers: c.Brokers(), Topic: "jobs", DialTimeout: time.Second})
	if err := s.Ready(testContext(t)); err != nil {
		t.Fatalf("Ready: %v", err)
	}

	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = s.Ping(ctx)
	if err == nil {
		t.Fatal("Ping succeeded with the broker gone")
	}
	if !kafka.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = false, want true", err)
	}
}

func TestPublishTooLarge(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "jobs", 1)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs", BatchBytes: 1024})
	big := records(1, 1)
	big[0].Value = bytes.Repeat([]byte("x"), 4096)
	err := s.Publish(testContext(t), big)
	if err == nil {
		t.Fatal("Publish of a record larger than BatchBytes succeeded")
	}
	if kafka.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
	if !strings.Contains(err.Error(), "1 of 1 records failed") {
		t.Errorf("error %q does not count the failed records", err)
	}
}

// failProduce makes the cluster answer every produce request with code for
// every partition, until the returned function is called.
func failProduce(c *kfake.Cluster, code int16) (stop func()) {
	var mu sync.Mutex
	failing := true
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		if !failing {
			return nil, nil, false
		}
		r := req.(*kmsg.ProduceRequest)
		resp := r.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			st.TopicID = rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return func() {
		mu.Lock()
		failing = false
		mu.Unlock()
	}
}

func TestPublishBrokerErrors(t *testing.T) {
	t.Run("not enough replicas is retryable and counted", func(t *testing.T) {
		brokers, c := kafkatest.NewCluster(t, "jobs", 2)
		s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})
		stop := failProduce(c, kerr.NotEnoughReplicas.Code)
		sent := records(10, 10)
		err := s.Publish(testContext(t), sent)
		if err == nil {
			t.Fatal("Publish succeeded while the broker refused every write")
		}
		var werr kafkago.WriteErrors
		if !errors.As(err, &werr) {
			t.Fatalf("error %v does not wrap kafka.WriteErrors", err)
		}
		if !errors.Is(err, kafkago.NotEnoughReplicas) {
			t.Errorf("error %v is not NotEnoughReplicas", err)
		}
		if !kafka.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = false, want true", err)
		}
		if !strings.Contains(err.Error(), "10 of 10 records failed") {
			t.Errorf("error %q does not count the failed records", err)
		}

		stop()
		if err := s.Publish(testContext(t), sent); err != nil {
			t.Fatalf("Publish after the broker recovered: %v", err)
		}
		checkReadBack(t, sent, kafkatest.ReadAll(t, brokers, "jobs", len(sent), readTimeout), 2)
	})

	t.Run("topic authorization failed is permanent", func(t *testing.T) {
		brokers, c := kafkatest.NewCluster(t, "jobs", 1)
		s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})
		defer failProduce(c, kerr.TopicAuthorizationFailed.Code)()
		err := s.Publish(testContext(t), records(3, 1))
		if !errors.Is(err, kafkago.TopicAuthorizationFailed) {
			t.Fatalf("Publish error = %v, want TopicAuthorizationFailed", err)
		}
		if kafka.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = true, want false", err)
		}
	})

	t.Run("leader change is reported at once, proven not appended", func(t *testing.T) {
		brokers, c := kafkatest.NewCluster(t, "jobs", 1)
		s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})
		stop := failProduce(c, kerr.LeaderNotAvailable.Code)
		sent := records(5, 2)
		err := s.Publish(testContext(t), sent)
		if !errors.Is(err, kafkago.LeaderNotAvailable) {
			t.Fatalf("Publish = %v, want LeaderNotAvailable (the pipeline retries, not the writer)", err)
		}
		if !kafka.IsRetryable(err) || !kafka.NotAppended(err) {
			t.Errorf("IsRetryable, NotAppended = %t, %t; want true, true", kafka.IsRetryable(err), kafka.NotAppended(err))
		}
		stop()
		if err := s.Publish(testContext(t), sent); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		checkReadBack(t, sent, kafkatest.ReadAll(t, brokers, "jobs", len(sent), readTimeout), 1)
	})
}

func TestPublishTopicDeleted(t *testing.T) {
	brokers, _ := kafkatest.NewCluster(t, "jobs", 1)
	s := newSink(t, kafka.Config{Brokers: brokers, Topic: "jobs"})
	if err := s.Publish(testContext(t), records(1, 1)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	admin := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: &kafkago.Transport{}}
	res, err := admin.DeleteTopics(testContext(t), &kafkago.DeleteTopicsRequest{Topics: []string{"jobs"}})
	if err != nil || res.Errors["jobs"] != nil {
		t.Fatalf("DeleteTopics: %v %v", err, res)
	}
	err = s.Publish(testContext(t), records(2, 1))
	if !errors.Is(err, kafka.ErrTopicNotFound) {
		t.Fatalf("Publish to a deleted topic = %v, want ErrTopicNotFound", err)
	}
	if kafka.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
}
