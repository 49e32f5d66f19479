package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

const (
	testUser     = "api@example.com"
	testPassword = "pw-Zq9!never-printed"
	testTopic    = "ips.asset-job-logs"
)

// stack is an IPS simulator and an embedded broker for in-process runs of
// the producer.
type stack struct {
	sim     *ipstest.Server
	cluster *kfake.Cluster
	brokers []string
	state   string
}

func newStack(t *testing.T, assets, entries int, opts ...ipstest.Option) *stack {
	t.Helper()
	sim := ipstest.NewServer(append([]ipstest.Option{
		ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(assets, entries),
	}, opts...)...)
	t.Cleanup(sim.Close)
	brokers, cluster := kafkatest.NewCluster(t, testTopic, 3)
	return &stack{sim: sim, cluster: cluster, brokers: brokers, state: filepath.Join(t.TempDir(), "state.db")}
}

func (s *stack) args(extra ...string) []string {
	return append([]string{
		"-ips-url", s.sim.URL(), "-ips-user", testUser, "-company", s.sim.CompanyHandle(),
		"-assets", strings.Join(s.sim.AssetHandles(), ","),
		"-brokers", strings.Join(s.brokers, ","), "-topic", testTopic, "-state", s.state,
		"-log-format", "json", "-log-level", "debug", "-ips-retry-max", "30s",
	}, extra...)
}

func (s *stack) env(extra ...string) func(string) string {
	m := map[string]string{"PRODUCER_IPS_PASSWORD": testPassword}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return func(k string) string { return m[k] }
}

type result struct {
	stdout, stderr string
	err            error
}

func (r result) String() string {
	return fmt.Sprintf("err: %v\nstderr:\n%s", r.err, r.stderr)
}

// runProducer runs the producer in-process until it returns or ctx ends.
func runProducer(ctx context.Context, args []string, env func(string) string) result {
	var stdout, stderr syncBuffer
	err := run(ctx, args, env, &stdout, &stderr)
	return result{stdout: stdout.String(), stderr: stderr.String(), err: err}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

// expected returns the entries the simulator holds, as the producer must
// publish them (event ids assigned per asset), by event id.
func (s *stack) expected(t *testing.T) map[string]pipeline.AssetJobLog {
	t.Helper()
	byAsset := map[string][]pipeline.AssetJobLog{}
	var order []string
	for _, e := range s.sim.AllEntries() {
		if e.Malformed { // dead-lettered, not published
			continue
		}
		if _, ok := byAsset[e.AssetHandle]; !ok {
			order = append(order, e.AssetHandle)
		}
		byAsset[e.AssetHandle] = append(byAsset[e.AssetHandle], e.AssetJobLog())
	}
	want := map[string]pipeline.AssetJobLog{}
	for _, a := range order {
		log := byAsset[a]
		pipeline.AssignEventIDs(log)
		for _, e := range log {
			want[e.EventID] = e
		}
	}
	return want
}

// topic reads every record of the topic once at least n are there, decodes
// them and checks each record's key and headers against its value.
func (s *stack) topic(t *testing.T, n int) []*pipeline.AssetJobLog {
	t.Helper()
	return s.topicWithin(t, n, 30*time.Second)
}

// topicWithin is topic, waiting up to timeout for the n records.
func (s *stack) topicWithin(t *testing.T, n int, timeout time.Duration) []*pipeline.AssetJobLog {
	t.Helper()
	msgs := kafkatest.ReadAll(t, s.brokers, testTopic, n, timeout)
	out := make([]*pipeline.AssetJobLog, 0, len(msgs))
	for _, m := range msgs {
		e, err := avro.Decode(m.Value)
		if err != nil {
			t.Fatalf("decode record at partition %d offset %d: %v", m.Partition, m.Offset, err)
		}
		if got, want := string(m.Key), e.AssetHandle; got != want {
			t.Errorf("record key: got %q, want the asset handle %q", got, want)
		}
		if got, want := header(m, pipeline.HeaderEventID), e.EventID; got != want {
			t.Errorf("event-id header: got %q, want %q", got, want)
		}
		if got, want := header(m, pipeline.HeaderContentType), avro.ContentTypeSingleObject; got != want {
			t.Errorf("content-type header: got %q, want %q", got, want)
		}
		out = append(out, e)
	}
	return out
}

func header(m kafkago.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// checkNoneLost checks that got holds every expected entry at least once
// and nothing else, every copy with every field as IPS reported it, and
// returns how many records are duplicates (the eventId of an earlier one).
func checkNoneLost(t *testing.T, got []*pipeline.AssetJobLog, want map[string]pipeline.AssetJobLog) (duplicates int) {
	t.Helper()
	seen := map[string]int{}
	for _, e := range got {
		seen[e.EventID]++
		w, ok := want[e.EventID]
		if !ok {
			t.Errorf("unexpected record %s (%s %s)", e.EventID, e.AssetHandle, e.LogDate)
			continue
		}
		if e.ObservedAt.IsZero() {
			t.Errorf("record %s has no observedAt", e.EventID)
		}
		g := *e
		g.ObservedAt = time.Time{}
		if len(g.AuxArray) == 0 && len(w.AuxArray) == 0 {
			g.AuxArray, w.AuxArray = nil, nil
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("record %s differs from IPS:\n got %+v\nwant %+v", e.EventID, g, w)
		}
	}
	missing := 0
	for id := range want {
		if seen[id] == 0 {
			missing++
			if missing <= 5 {
				t.Errorf("entry %s (%s) was never published", id, want[id].AssetHandle)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d entries lost", missing, len(want))
	}
	return len(got) - len(seen)
}

// checkExactlyOnce checks that got holds every expected entry exactly once,
// with every field as IPS reported it.
func checkExactlyOnce(t *testing.T, got []*pipeline.AssetJobLog, want map[string]pipeline.AssetJobLog) {
	t.Helper()
	if dups := checkNoneLost(t, got, want); dups != 0 {
		t.Errorf("%d duplicate records, want none", dups)
	}
}

func TestProducerPublishesEveryEntryOnce(t *testing.T) {
	ctx := t.Context()
	s := newStack(t, 30, 6)

	r := runProducer(ctx, s.args("-once"), s.env())
	if r.err != nil {
		t.Fatalf("first -once: %v", r)
	}
	want := s.expected(t)
	checkExactlyOnce(t, s.topic(t, len(want)), want)

	t.Run("second -once publishes nothing", func(t *testing.T) {
		if r := runProducer(ctx, s.args("-once"), s.env()); r.err != nil {
			t.Fatal(r)
		}
		checkExactlyOnce(t, s.topic(t, len(want)), want)
	})

	t.Run("new activity publishes exactly the new entries", func(t *testing.T) {
		s.sim.AddActivity([]int{0, 7, 29}, 2)
		s.sim.AddActivity([]int{7}, 1)
		want := s.expected(t)
		if got := len(want); got != 30*6+7 {
			t.Fatalf("simulator holds %d entries, want %d", got, 30*6+7)
		}
		if r := runProducer(ctx, s.args("-once"), s.env()); r.err != nil {
			t.Fatal(r)
		}
		checkExactlyOnce(t, s.topic(t, len(want)), want)
	})

	t.Run("continuous mode picks up activity and stops cleanly on cancel", func(t *testing.T) {
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan result)
		go func() { done <- runProducer(runCtx, s.args("-poll-interval", "50ms"), s.env()) }()
		s.sim.AddActivity([]int{3, 4}, 3)
		want := s.expected(t)
		got := s.topic(t, len(want))
		cancel()
		r := <-done
		if r.err != nil {
			t.Fatalf("run after cancel: %v", r)
		}
		checkExactlyOnce(t, got, want)
		if !strings.Contains(r.stderr, `"msg":"producer stopped"`) {
			t.Errorf("no clean stop logged:\n%s", r.stderr)
		}
	})
}

func TestProducerSurvivesIPSFaults(t *testing.T) {
	ctx := t.Context()
	s := newStack(t, 12, 5)
	for _, f := range []ipstest.Fault{
		{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultUnavailable, RetryAfter: 1, Times: 2},
		{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultTooManyRequests, Times: 1},
		{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultBadGateway, Times: 1},
		{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultGatewayHTML, Times: 1},
		{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultSOAP, Code: 30000, Reason: "generic exception", Times: 2},
		{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultConnectionReset, Times: 2},
		{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultTruncated, Times: 2},
	} {
		s.sim.Inject(f)
	}
	r := runProducer(ctx, s.args("-once"), s.env())
	if r.err != nil {
		t.Fatalf("-once under faults: %v", r)
	}
	want := s.expected(t)
	checkExactlyOnce(t, s.topic(t, len(want)), want)
	if n := s.sim.Calls(ipstest.OpGetAssetJobLogs); n < 12+11 {
		t.Errorf("getAssetJobLogs calls: got %d, want at least %d (every fault retried)", n, 12+11)
	}
	if !strings.Contains(r.stderr, `"msg":"retrying"`) {
		t.Errorf("retries not logged at debug level")
	}
}

func TestProducerMalformedResponseLosesNothing(t *testing.T) {
	ctx := t.Context()
	s := newStack(t, 5, 4)
	s.sim.Inject(ipstest.Fault{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultMalformedXML, Times: 1})
	r := runProducer(ctx, s.args("-once", "-concurrency", "1"), s.env())
	if r.err == nil || !errors.Is(r.err, pipeline.ErrIncomplete) {
		t.Fatalf("-once with a malformed page: got %v, want an incomplete round", r)
	}
	if r := runProducer(ctx, s.args("-once"), s.env()); r.err != nil {
		t.Fatalf("rerun: %v", r)
	}
	want := s.expected(t)
	checkExactlyOnce(t, s.topic(t, len(want)), want)
}

func TestProducerWrongPasswordStopsWithOneLine(t *testing.T) {
	s := newStack(t, 3, 2)
	const wrong = "wrong-Password-42"
	r := runProducer(t.Context(), s.args("-once"), func(k string) string {
		if k == "PRODUCER_IPS_PASSWORD" {
			return wrong
		}
		return ""
	})
	if r.err == nil {
		t.Fatal("run succeeded with a wrong password")
	}
	var out bytes.Buffer
	if code := exitCode(r.err, &out); code != 1 {
		t.Errorf("exit code: got %d, want 1", code)
	}
	line := out.String()
	if strings.Count(line, "\n") != 1 || !strings.Contains(line, "10001") {
		t.Errorf("got %q, want one line naming fault 10001", line)
	}
	for _, secret := range []string{wrong, testPassword} {
		if strings.Contains(line+r.stdout+r.stderr, secret) {
			t.Errorf("password %q appears in the output", secret)
		}
	}
	if got := s.sim.Calls(ipstest.OpGetAssetJobLogs); got > 3 {
		t.Errorf("getAssetJobLogs calls: got %d, want no retries of an authentication fault", got)
	}
}

func TestProducerMissingTopicStops(t *testing.T) {
	s := newStack(t, 2, 2)
	r := runProducer(t.Context(), s.args("-once", "-topic", "no-such-topic"), s.env())
	if r.err == nil || !strings.Contains(r.err.Error(), "no-such-topic") {
		t.Fatalf("got %v, want an error naming the missing topic", r)
	}
	if got := s.sim.TotalCalls(); got != 0 {
		t.Errorf("IPS calls before the topic check failed: got %d, want 0", got)
	}
}

// TestProducerBrokerOutage: the broker refuses every produce request until
// the pipeline has seen a write fail and scheduled its retry; -once then
// publishes every entry once. The sink makes one attempt per write (the
// pipeline owns the retries) and assets publish concurrently, so how many
// requests are refused before the retry shows is up to the scheduler: one
// is already an outage the pipeline must carry the entries over.
func TestProducerBrokerOutage(t *testing.T) {
	ctx := t.Context()
	s := newStack(t, 6, 3)
	var down atomic.Bool
	var refused atomic.Int64
	down.Store(true)
	s.cluster.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		s.cluster.KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		refused.Add(1)
		return nil, errors.New("broker down"), true
	})
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, s.args("-once", "-log-level", "debug"), s.env(), &stdout, &stderr) }()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(stderr.String(), `"target":"kafka"`) {
		select {
		case err := <-done:
			t.Fatalf("-once ended during the outage (%v), %d requests refused:\n%s", err, refused.Load(), stderr.String())
		case <-deadline:
			t.Fatalf("the pipeline never retried a write during the outage (%d requests refused):\n%s", refused.Load(), stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	down.Store(false)
	if err := <-done; err != nil {
		t.Fatalf("-once across a broker outage: %v\n%s", err, stderr.String())
	}
	if refused.Load() == 0 {
		t.Fatalf("the pipeline retried a write, but no produce request was refused: the outage was not seen\n%s", stderr.String())
	}
	want := s.expected(t)
	got := s.topic(t, len(want))
	ids := map[string]int{}
	for _, e := range got {
		ids[e.EventID]++
		if _, ok := want[e.EventID]; !ok {
			t.Errorf("unexpected record %s", e.EventID)
		}
	}
	if len(ids) != len(want) {
		t.Fatalf("distinct entries after the outage: got %d, want %d", len(ids), len(want))
	}
	if len(got) != len(ids) {
		t.Errorf("records after the outage: got %d for %d entries, want each once (%d duplicates with the same eventId)",
			len(got), len(ids), len(got)-len(ids))
	}
	t.Logf("outage: %d produce requests refused; %d records for %d entries", refused.Load(), len(got), len(want))
}
