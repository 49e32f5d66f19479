package main

import (
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
)

// replaceArg returns args with the value of flag replaced.
func replaceArg(args []string, flag, value string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if out[i] == flag && i+1 < len(out) {
			out[i+1] = value
		}
	}
	return out
}

// TestStateRefusesAnotherTopic: a state reused with another -topic, or
// against another cluster, stops the producer with one line naming both,
// and nothing is published, until -reset-state (publishes everything to
// the new topic) or -adopt-topic (carries on from the state).
func TestStateRefusesAnotherTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := newStack(t, 3, 2)
	want := s.expected(t)
	if r := runProducer(ctx, s.args("-once"), s.env()); r.err != nil {
		t.Fatal(r)
	}
	client := &kafkago.Client{Addr: kafkago.TCP(s.brokers...), Timeout: 10 * time.Second}
	cr, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{Topic: "t2", NumPartitions: 2, ReplicationFactor: 1}}})
	if err != nil || cr.Errors["t2"] != nil {
		t.Fatalf("create t2: %v %v", err, cr)
	}
	count := func(topic string) int {
		msgs, err := kafkatest.Read(ctx, s.brokers, topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(msgs)
	}

	t.Run("another topic is refused", func(t *testing.T) {
		r := runProducer(ctx, replaceArg(s.args("-once"), "-topic", "t2"), s.env())
		code, line := oneLine(r.err)
		if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, `topic "`+testTopic+`"`) ||
			!strings.Contains(line, `topic "t2"`) || !strings.Contains(line, "-reset-state") {
			t.Errorf("got exit %d, %q; want exit 1 and one line naming both topics", code, line)
		}
		if n := count("t2"); n != 0 {
			t.Errorf("%d records published to t2 before the user said what to do", n)
		}
	})

	t.Run("another cluster is refused", func(t *testing.T) {
		other, err := kafkatest.Start(testTopic, 3, kfake.ClusterID("other-cluster"))
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		r := runProducer(ctx, replaceArg(s.args("-once"), "-brokers", strings.Join(other.Brokers(), ",")), s.env())
		code, line := oneLine(r.err)
		if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, "another cluster") || !strings.Contains(line, "other-cluster") {
			t.Errorf("got exit %d, %q; want exit 1 and one line naming the other cluster", code, line)
		}
		if msgs, err := kafkatest.Read(ctx, other.Brokers(), testTopic, 0); err != nil || len(msgs) != 0 {
			t.Errorf("%d records (%v) published to the other cluster", len(msgs), err)
		}
	})

	t.Run("reset-state publishes everything to the new topic", func(t *testing.T) {
		if r := runProducer(ctx, replaceArg(s.args("-once", "-reset-state"), "-topic", "t2"), s.env()); r.err != nil {
			t.Fatal(r)
		}
		if n := count("t2"); n != len(want) {
			t.Errorf("t2 holds %d records, want every entry (%d)", n, len(want))
		}
		// The state now belongs to t2: the first topic is refused.
		if r := runProducer(ctx, s.args("-once"), s.env()); r.err == nil {
			t.Error("the state reset for t2 accepted the first topic")
		}
	})
}

// TestResetStateUnopenable: when -reset-state has moved the state aside but
// the fresh state cannot be opened (here a directory took its place), the
// producer stops with one line naming the file, and publishes nothing.
func TestResetStateUnopenable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := newStack(t, 2, 1)
	if r := runProducer(ctx, s.args("-once"), s.env()); r.err != nil {
		t.Fatal(r)
	}
	other, err := kafkatest.Start(testTopic, 3, kfake.ClusterID("other-cluster"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stderr := &hookWriter{substr: "moved aside", hook: func() {
		if err := os.Mkdir(s.state, 0o700); err != nil {
			t.Error(err)
		}
	}}
	err = run(ctx, replaceArg(s.args("-once", "-reset-state"), "-brokers", strings.Join(other.Brokers(), ",")), s.env(), io.Discard, stderr)
	code, line := oneLine(err)
	if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, s.state) {
		t.Errorf("got exit %d, %q; want exit 1 and one line naming the state", code, line)
	}
	if !stderr.fired() {
		t.Error("-reset-state did not log the move")
	}
	if msgs, err := kafkatest.Read(ctx, other.Brokers(), testTopic, 0); err != nil || len(msgs) != 0 {
		t.Errorf("%d records (%v) published without a state", len(msgs), err)
	}
}

// hookWriter is a log writer that calls hook once, while writing the first
// line that holds substr.
type hookWriter struct {
	substr string
	hook   func()
	mu     sync.Mutex
	done   bool
}

func (w *hookWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done && strings.Contains(string(p), w.substr) {
		w.done = true
		w.hook()
	}
	return len(p), nil
}

func (w *hookWriter) fired() bool { w.mu.Lock(); defer w.mu.Unlock(); return w.done }

// TestUnreadableTailStopsTheProducer: when the topic cannot be read back
// at start-up (here the broker refuses the offsets with an authorization
// error), the producer stops with one line and publishes nothing, rather
// than publish again what it cannot check.
func TestUnreadableTailStopsTheProducer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	s := newStack(t, 3, 2)
	if r := runProducer(ctx, s.args("-once"), s.env()); r.err != nil {
		t.Fatal(r)
	}
	before, err := kafkatest.Read(ctx, s.brokers, testTopic, 0)
	if err != nil {
		t.Fatal(err)
	}
	s.sim.AddActivity([]int{0, 1}, 2)
	var failing atomic.Bool
	failing.Store(true)
	s.cluster.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		s.cluster.KeepControl()
		if !failing.Load() {
			return nil, nil, false
		}
		r := req.(*kmsg.ListOffsetsRequest)
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.TopicAuthorizationFailed.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	r := runProducer(ctx, s.args("-once"), s.env())
	code, line := oneLine(r.err)
	if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, "read") || !strings.Contains(line, "Authorization") {
		t.Errorf("got exit %d, %q; want exit 1 and one line saying the topic could not be read back", code, line)
	}
	t.Logf("stopped with: %s", strings.TrimSpace(line))
	failing.Store(false)
	after, err := kafkatest.Read(ctx, s.brokers, testTopic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("%d records published while the topic could not be read back", len(after)-len(before))
	}
}
