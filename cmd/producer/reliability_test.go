package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"golang.org/x/sys/unix"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// oneLine runs exitCode on err and returns the exit status and what it
// printed.
func oneLine(err error) (int, string) {
	var b bytes.Buffer
	code := exitCode(err, &b)
	return code, b.String()
}

// waitLog waits until the log holds n lines containing substr, failing t
// after timeout (a deadline against a hang, not a speed check).
func waitLog(t *testing.T, log *syncBuffer, substr string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(log.String(), substr) < n {
		if time.Now().After(deadline) {
			t.Fatalf("waited for %d log lines with %s; log:\n%s", n, substr, tail(log.String(), 40))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// readTopic decodes every record of topic once at least n are there.
func readTopic(t *testing.T, brokers []string, topic string, n int) []*pipeline.AssetJobLog {
	t.Helper()
	msgs := kafkatest.ReadAll(t, brokers, topic, n, 30*time.Second)
	out := make([]*pipeline.AssetJobLog, 0, len(msgs))
	for _, m := range msgs {
		e, err := avro.Decode(m.Value)
		if err != nil {
			t.Fatalf("decode record at partition %d offset %d: %v", m.Partition, m.Offset, err)
		}
		out = append(out, e)
	}
	return out
}

// TestFaultMatrix runs one -once round under each IPS fault, checks what
// the producer does, then reruns without the fault and checks that every
// entry is in the topic exactly once: an IPS failure never commits an
// asset, so nothing is lost and nothing is published twice.
func TestFaultMatrix(t *testing.T) {
	const assets, entries = 6, 4
	type outcome int
	const (
		succeeds   outcome = iota // the round completes: exit 0
		incomplete                // some assets fail the round: exit 1, the others publish
		stops                     // the producer stops at once: exit 1, nothing retried
	)
	op := ipstest.OpGetAssetJobLogs
	tests := []struct {
		name    string
		faults  []ipstest.Fault
		extra   []string
		outcome outcome
		inLine  string // in the one line printed on exit
		retries int    // the fault is retried: at least this many extra calls
		failOne bool   // incomplete: exactly one asset fails
	}{
		{name: "503 with Retry-After", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultUnavailable, RetryAfter: 1, Times: 2}}, retries: 2},
		{name: "503 without Retry-After", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultUnavailable, Times: 3}}, retries: 3},
		{name: "429 with Retry-After", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultTooManyRequests, RetryAfter: 1, Times: 1}}, retries: 1},
		{name: "429 without Retry-After", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultTooManyRequests, Times: 3}}, retries: 3},
		{name: "502 empty body", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultBadGateway, Times: 3}}, retries: 3},
		{name: "504 gateway HTML", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultGatewayHTML, Status: 504, Times: 3}}, retries: 3},
		{name: "api fault 30000 is retried", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultSOAP, Detail: ipstest.IPSAPIFault, Code: 30000, Times: 3}}, retries: 3},
		{name: "api fault 30000 with HTTP 200", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultSOAP, Code: 30000, Status: 200, Times: 2}}, retries: 2},
		{name: "connection reset", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultConnectionReset, Times: 3}}, retries: 3},
		{name: "truncated body", faults: []ipstest.Fault{{Op: op, Kind: ipstest.FaultTruncated, Times: 3}}, retries: 3},
		{
			name:    "latency beyond -ips-timeout",
			faults:  []ipstest.Fault{{Op: op, Kind: ipstest.FaultLatency, Delay: 10 * time.Second, Times: 3}},
			extra:   []string{"-ips-timeout", "200ms"},
			retries: 3,
		},
		{
			name:    "api fault 30001 fails that asset only",
			faults:  []ipstest.Fault{{Op: op, Kind: ipstest.FaultSOAP, Code: 30001, Reason: "invalid parameter", Times: 1}},
			extra:   []string{"-concurrency", "1"},
			outcome: incomplete, inLine: "30001", failOne: true,
		},
		{
			name:    "malformed XML fails that asset only",
			faults:  []ipstest.Fault{{Op: op, Kind: ipstest.FaultMalformedXML, Times: 1}},
			extra:   []string{"-concurrency", "1"},
			outcome: incomplete, inLine: "malformed response", failOne: true,
		},
		{
			name:    "exhausted retries fail the asset for the round",
			faults:  []ipstest.Fault{{Op: op, Kind: ipstest.FaultUnavailable, Times: 5}},
			extra:   []string{"-concurrency", "1", "-ips-retry-max", "300ms"},
			outcome: incomplete, inLine: "retries exhausted",
		},
		{
			name:    "authentication fault stops",
			faults:  []ipstest.Fault{{Kind: ipstest.FaultSOAP, Detail: ipstest.AuthenticationFault, Code: 10001, Reason: "invalid credentials"}},
			outcome: stops, inLine: "authentication fault 10001",
		},
		{
			name:    "authorization fault 20000 stops",
			faults:  []ipstest.Fault{{Kind: ipstest.FaultSOAP, Detail: ipstest.AuthorizationFault, Code: 20000, Reason: "invalid company"}},
			outcome: stops, inLine: "authorization fault 20000",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			s := newStack(t, assets, entries)
			for _, f := range tt.faults {
				s.sim.Inject(f)
			}
			r := runProducer(ctx, s.args(append([]string{"-once"}, tt.extra...)...), s.env())
			want := s.expected(t)
			code, line := oneLine(r.err)
			calls := s.sim.Calls(op)
			switch tt.outcome {
			case succeeds:
				if r.err != nil {
					t.Fatalf("-once under the fault: %v", r)
				}
				if calls < assets+tt.retries {
					t.Errorf("getAssetJobLogs calls: got %d, want at least %d (the fault retried)", calls, assets+tt.retries)
				}
				checkExactlyOnce(t, s.topic(t, len(want)), want)
				return
			case incomplete:
				if !errors.Is(r.err, pipeline.ErrIncomplete) || code != 1 {
					t.Fatalf("got exit %d, %v; want exit 1 and an incomplete round", code, r)
				}
				// Each asset is published whole or not at all; the
				// failed ones are not, the others are.
				msgs, err := kafkatest.Read(ctx, s.brokers, testTopic, 0)
				if err != nil {
					t.Fatal(err)
				}
				perAsset := map[string]int{}
				for _, m := range msgs {
					perAsset[string(m.Key)]++
				}
				failed := 0
				for _, a := range s.sim.AssetHandles() {
					switch perAsset[a] {
					case 0:
						failed++
					case entries:
					default:
						t.Errorf("asset %s: %d of %d entries published", a, perAsset[a], entries)
					}
				}
				if failed == 0 || failed == assets || (tt.failOne && failed != 1) {
					t.Errorf("assets that failed the round: got %d of %d, want %s", failed, assets, map[bool]string{true: "1", false: "some, not all"}[tt.failOne])
				}
			case stops:
				if r.err == nil || errors.Is(r.err, pipeline.ErrIncomplete) || code != 1 {
					t.Fatalf("got exit %d, %v; want exit 1 and a stop", code, r)
				}
				if calls > 8 {
					t.Errorf("getAssetJobLogs calls: got %d, want at most one per worker (no retry)", calls)
				}
				if msgs, err := kafkatest.Read(ctx, s.brokers, testTopic, 0); err != nil || len(msgs) != 0 {
					t.Errorf("records after the stop: got %d (%v), want 0", len(msgs), err)
				}
			}
			if strings.Count(line, "\n") != 1 || !strings.Contains(line, tt.inLine) {
				t.Errorf("exit line: got %q, want one line naming %q", line, tt.inLine)
			}
			s.sim.ClearFaults()
			if r := runProducer(ctx, s.args("-once"), s.env()); r.err != nil {
				t.Fatalf("rerun without the fault: %v", r)
			}
			checkExactlyOnce(t, s.topic(t, len(want)), want)
		})
	}
}

// TestIPSOutageRecoversInContinuousMode fails every IPS call for several
// rounds, then lets them through: the producer keeps running, keeps its
// retry waits within -ips-retry-max, and publishes everything once IPS is
// back, by itself.
func TestIPSOutageRecoversInContinuousMode(t *testing.T) {
	s := newStack(t, 6, 3)
	s.sim.Inject(ipstest.Fault{Kind: ipstest.FaultUnavailable})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, s.args("-poll-interval", "100ms", "-ips-retry-max", "300ms"), s.env(), &stdout, &stderr)
	}()
	waitLog(t, &stderr, `"msg":"round incomplete"`, 3, 30*time.Second)
	s.sim.ClearFaults()
	want := s.expected(t)
	got := s.topic(t, len(want))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("continuous run across an IPS outage: %v\n%s", err, tail(stderr.String(), 20))
	}
	checkExactlyOnce(t, got, want)

	retries := 0
	for _, line := range strings.Split(stderr.String(), "\n") {
		var rec struct {
			Msg    string        `json:"msg"`
			Target string        `json:"target"`
			Wait   time.Duration `json:"wait"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil || rec.Msg != "retrying" || rec.Target != "ips" {
			continue
		}
		retries++
		if rec.Wait > 300*time.Millisecond {
			t.Errorf("retry wait %s exceeds -ips-retry-max 300ms", rec.Wait)
		}
	}
	if retries == 0 {
		t.Error("no IPS retry logged during the outage")
	}
}

// TestRetryAfterBeyondRetryBudgetGivesUp: a gateway asks for a Retry-After
// far longer than -ips-retry-max. The producer must give the asset up
// within its retry budget (it is polled again next round), not sleep for
// the Retry-After (capped at 10 minutes) while the round stalls.
func TestRetryAfterBeyondRetryBudgetGivesUp(t *testing.T) {
	s := newStack(t, 2, 2)
	s.sim.Inject(ipstest.Fault{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultUnavailable, RetryAfter: 3600, Times: 1})
	// The deadline only detects a stall; the budget is 500ms.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	r := runProducer(ctx, s.args("-once", "-concurrency", "1", "-ips-retry-max", "500ms", "-shutdown-timeout", "200ms"), s.env())
	if ctx.Err() != nil {
		t.Fatalf("-once with Retry-After: 3600 and -ips-retry-max 500ms still waiting after 5s: %v", r.err)
	}
	if !errors.Is(r.err, pipeline.ErrIncomplete) {
		t.Fatalf("got %v, want an incomplete round (the asset given up within its budget)", r)
	}
}

// restartableBroker returns a func that starts a one-broker kfake cluster
// on the same port and data directory each time, so that a test can stop
// the broker and start it again; seed creates the test topic (3
// partitions). opts are added to every start.
func restartableBroker(t *testing.T, opts ...kfake.Opt) func(seed bool) *kfake.Cluster {
	t.Helper()
	dataDir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return func(seed bool) *kfake.Cluster {
		o := append([]kfake.Opt{kfake.NumBrokers(1), kfake.Ports(port), kfake.DataDir(dataDir)}, opts...)
		if seed {
			o = append(o, kfake.SeedTopics(3, testTopic))
		}
		c, err := kfake.NewCluster(o...)
		if err != nil {
			t.Fatalf("start broker: %v", err)
		}
		t.Cleanup(c.Close)
		return c
	}
}

// TestBrokerRestart stops the broker while the producer runs in continuous
// mode, adds IPS activity, and starts the broker again on the same port and
// data: the producer resumes by itself and publishes everything.
func TestBrokerRestart(t *testing.T) {
	start := restartableBroker(t)
	first := start(true)
	s := newStack(t, 5, 3)
	s.brokers = first.ListenAddrs()

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, s.args("-poll-interval", "100ms", "-kafka-retry-max", "0"), s.env(), &stdout, &stderr)
	}()
	want := s.expected(t)
	s.topic(t, len(want))
	first.Close()
	s.sim.AddActivity([]int{0, 2, 4}, 2)
	waitLog(t, &stderr, `"target":"kafka"`, 1, 60*time.Second)
	start(false)
	want = s.expected(t)
	got := s.topic(t, len(want))
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("continuous run across a broker restart: %v\n%s", err, tail(stderr.String(), 20))
	}
	dups := checkNoneLost(t, got, want)
	t.Logf("broker restart: %d records for %d entries (%d duplicates with the same eventId)", len(got), len(want), dups)
}

// TestLeaderChanges moves the leadership of every partition between three
// brokers several times during a backfill: every entry still arrives.
func TestLeaderChanges(t *testing.T) {
	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(30, 3))
	t.Cleanup(sim.Close)
	brokers, cluster := kafkatest.NewCluster(t, testTopic, 6, kfake.NumBrokers(3))
	s := &stack{sim: sim, cluster: cluster, brokers: brokers, state: filepath.Join(t.TempDir(), "state.db")}

	stop := make(chan struct{})
	var moves atomic.Int64
	shuffled := make(chan struct{})
	go func() {
		defer close(shuffled)
		for moves.Load() < 4 {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
				cluster.ShufflePartitionLeaders()
				moves.Add(1)
			}
		}
	}()
	r := runProducer(t.Context(), s.args("-once", "-concurrency", "4", "-request-rate", "50"), s.env())
	close(stop)
	if moves.Load() < 2 {
		t.Errorf("only %d leader elections during the run", moves.Load())
	}
	<-shuffled
	if r.err != nil {
		t.Fatalf("-once across leader changes: %v", r)
	}
	want := s.expected(t)
	got := s.topic(t, len(want))
	dups := checkNoneLost(t, got, want)
	t.Logf("leader changes: %d elections; %d records for %d entries (%d duplicates)", moves.Load(), len(got), len(want), dups)
}

// TestTopicDeletedWhileRunning deletes the topic under a running producer:
// it stops with a clear message and commits nothing it could not publish.
// Once the topic is back the state refuses it (another topic id) until
// -adopt-topic, and then the rerun publishes the new entries.
func TestTopicDeletedWhileRunning(t *testing.T) {
	s := newStack(t, 4, 2)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, s.args("-poll-interval", "100ms"), s.env(), &stdout, &stderr) }()
	s.topic(t, len(s.expected(t)))

	before := s.expected(t)
	client := &kafkago.Client{Addr: kafkago.TCP(s.brokers...), Timeout: 10 * time.Second}
	res, err := client.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{testTopic}})
	if err != nil || res.Errors[testTopic] != nil {
		t.Fatalf("delete topic: %v %v", err, res)
	}
	s.sim.AddActivity([]int{1, 3}, 2)
	var added []string
	for id := range s.expected(t) {
		if _, ok := before[id]; !ok {
			added = append(added, id)
		}
	}

	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		t.Fatalf("the producer kept running after its topic was deleted:\n%s", tail(stderr.String(), 20))
	}
	code, line := oneLine(runErr)
	if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, "topic not found") || !strings.Contains(line, testTopic) {
		t.Errorf("got exit %d, %q; want exit 1 and one line saying topic %q was not found", code, line, testTopic)
	}

	cr, err := client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{Topic: testTopic, NumPartitions: 3, ReplicationFactor: 1}}})
	if err != nil || cr.Errors[testTopic] != nil {
		t.Fatalf("recreate topic: %v %v", err, cr)
	}
	// The re-created topic is another topic: the state refuses it, with
	// one line naming both, until told what to do.
	r := runProducer(ctx, s.args("-once"), s.env())
	code, line = oneLine(r.err)
	if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, "deleted and re-created") || !strings.Contains(line, "-adopt-topic") {
		t.Errorf("rerun on the re-created topic: exit %d, %q; want exit 1 and one line saying the topic was re-created", code, line)
	}
	if r := runProducer(ctx, s.args("-once", "-adopt-topic"), s.env()); r.err != nil {
		t.Fatalf("rerun after the topic is back: %v", r)
	}
	// Every entry added while the topic was gone is in the new topic: the
	// failed publish committed nothing.
	ids := map[string]bool{}
	for _, e := range readTopic(t, s.brokers, testTopic, len(added)) {
		ids[e.EventID] = true
	}
	for _, id := range added {
		if !ids[id] {
			t.Errorf("entry %s, added while the topic was gone, never published", id)
		}
	}
}

// TestCorruptStateAtStartup: a damaged state file stops the producer before
// any IPS call or publish, with one line that names the file and the way
// out; -reset-state moves it aside and starts over.
func TestCorruptStateAtStartup(t *testing.T) {
	// A real state file to damage.
	seed := newStack(t, 20, 2)
	if r := runProducer(t.Context(), seed.args("-once"), seed.env()); r.err != nil {
		t.Fatal(r)
	}
	good, err := os.ReadFile(seed.state)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"garbage":   []byte("this is not a bbolt file, someone wrote text over the state"),
		"truncated": good[:len(good)/3],
		"zeroed":    make([]byte, len(good)),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			s := newStack(t, 3, 2)
			if err := os.WriteFile(s.state, content, 0o600); err != nil {
				t.Fatal(err)
			}
			r := runProducer(t.Context(), s.args("-once"), s.env())
			code, line := oneLine(r.err)
			if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, s.state) ||
				!strings.Contains(line, "corrupt") || !strings.Contains(line, "-reset-state") {
				t.Errorf("got exit %d, %q; want exit 1 and one line naming the file, corruption and -reset-state", code, line)
			}
			if n := s.sim.TotalCalls(); n != 0 {
				t.Errorf("IPS calls with a corrupt state: got %d, want 0", n)
			}
			if msgs, err := kafkatest.Read(t.Context(), s.brokers, testTopic, 0); err != nil || len(msgs) != 0 {
				t.Errorf("records with a corrupt state: got %d (%v), want 0", len(msgs), err)
			}
			if after, _ := os.ReadFile(s.state); !bytes.Equal(after, content) {
				t.Error("the damaged file was modified")
			}

			r = runProducer(t.Context(), s.args("-once", "-reset-state"), s.env())
			if r.err != nil {
				t.Fatalf("-reset-state: %v", r)
			}
			aside, _ := filepath.Glob(s.state + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("files moved aside: %v, want one", aside)
			}
			if moved, _ := os.ReadFile(aside[0]); !bytes.Equal(moved, content) {
				t.Error("the file moved aside is not the damaged file")
			}
			if !strings.Contains(r.stderr, "moved aside") {
				t.Error("-reset-state did not log the move")
			}
			want := s.expected(t)
			checkExactlyOnce(t, s.topic(t, len(want)), want)
		})
	}

	t.Run("held by another process", func(t *testing.T) {
		s := newStack(t, 2, 2)
		held, err := boltstore.Open(s.state)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		r := runProducer(t.Context(), s.args("-once"), s.env())
		code, line := oneLine(r.err)
		if code != 1 || !strings.Contains(line, "in use by another process") || strings.Contains(line, "corrupt") {
			t.Errorf("got exit %d, %q; want exit 1 naming the lock, not corruption", code, line)
		}
		if n := s.sim.TotalCalls(); n != 0 {
			t.Errorf("IPS calls with a locked state: got %d, want 0", n)
		}
	})
}

// TestStateDirectoryUnusable: the state cannot be created (its directory is
// read-only, or is not a directory). The producer stops before any IPS call
// with one line naming the path, and does not call a healthy disk problem
// corruption (which would send the operator to -reset-state, re-publishing
// the whole history).
func TestStateDirectoryUnusable(t *testing.T) {
	dir := t.TempDir()
	readOnly := filepath.Join(dir, "ro")
	if err := os.Mkdir(readOnly, 0o500); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{"parent is a file": filepath.Join(notDir, "state.db")}
	if probe, err := os.Create(filepath.Join(readOnly, "probe")); err == nil {
		probe.Close() // root ignores directory permissions; the case above still runs
		os.Remove(probe.Name())
	} else {
		paths["read-only directory"] = filepath.Join(readOnly, "state.db")
	}
	for name, state := range paths {
		t.Run(name, func(t *testing.T) {
			s := newStack(t, 2, 2)
			r := runProducer(t.Context(), s.args("-once", "-state", state), s.env())
			code, line := oneLine(r.err)
			if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, state) {
				t.Errorf("got exit %d, %q; want exit 1 and one line naming %s", code, line, state)
			}
			if strings.Contains(line, "corrupt") || strings.Contains(line, "-reset-state") {
				t.Errorf("an unusable directory is reported as a corrupt state: %q", line)
			}
			if n := s.sim.TotalCalls(); n != 0 {
				t.Errorf("IPS calls: got %d, want 0", n)
			}
		})
	}
}

// TestStateUnwritableMidRun lowers the producer process's file-size limit
// while it backfills, so the next checkpoint commit fails. The producer
// stops with a clear message, the state file stays readable, and a rerun
// with a writable state publishes the rest: nothing is lost.
func TestStateUnwritableMidRun(t *testing.T) {
	bin := buildProducer(t)
	const assets, entries = 300, 3
	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(assets, entries))
	t.Cleanup(sim.Close)
	brokers, cluster := kafkatest.NewCluster(t, testTopic, 3)
	s := &stack{sim: sim, cluster: cluster, brokers: brokers, state: filepath.Join(t.TempDir(), "state.db")}
	args := childArgs(t, s, "-concurrency", "2")

	// SIGXFSZ is ignored so that the write fails with EFBIG instead of
	// killing the process.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `trap '' XFSZ; exec "$0" "$@"`, bin}, args...)...)
	cmd.Env = childEnv()
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Let some assets commit, then forbid any write past the first two
	// pages (the meta pages) of the state file.
	if _, err := kafkatest.Read(t.Context(), brokers, testTopic, 60); err != nil {
		t.Fatal(err)
	}
	limit := unix.Rlimit{Cur: 8192, Max: 8192}
	if err := unix.Prlimit(cmd.Process.Pid, unix.RLIMIT_FSIZE, &limit, nil); err != nil {
		t.Fatalf("prlimit: %v", err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("the producer kept running with an unwritable state:\n%s", tail(stderr.String(), 20))
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("got %v, want exit status 1 (the backfill may have finished before the limit: make it larger)\n%s", err, tail(stderr.String(), 5))
	}
	last := tail(stderr.String(), 1)
	if !strings.Contains(last, "commit checkpoint") || !strings.Contains(last, s.state) || !strings.Contains(last, "file too large") {
		t.Errorf("last line: got %q, want the failed commit, the state path and the cause", last)
	}

	st, err := boltstore.Open(s.state)
	if err != nil {
		t.Fatalf("state after the failed commit does not open: %v", err)
	}
	committed, _, _ := st.Stats()
	st.Close()
	if committed >= assets {
		t.Fatalf("%d assets committed: the limit came too late", committed)
	}

	out, err := childCommand(t.Context(), bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("rerun with a writable state: %v\n%s", err, tail(string(out), 5))
	}
	want := s.expected(t)
	got := s.topic(t, len(want))
	dups := checkNoneLost(t, got, want)
	t.Logf("unwritable state: %d assets committed before the failure; %d records for %d entries (%d duplicates with the same eventId)",
		committed, len(got), len(want), dups)
}

// childArgs are the flags of a producer child process for s.
func childArgs(t *testing.T, s *stack, extra ...string) []string {
	t.Helper()
	assetsFile := filepath.Join(t.TempDir(), "assets.txt")
	if err := os.WriteFile(assetsFile, []byte(strings.Join(s.sim.AssetHandles(), "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return append([]string{
		"-ips-url", s.sim.URL(), "-ips-user", testUser, "-company", s.sim.CompanyHandle(),
		"-assets-file", assetsFile, "-brokers", strings.Join(s.brokers, ","), "-topic", testTopic,
		"-state", s.state, "-once", "-log-format", "json", "-progress", "off", "-shutdown-timeout", "2s",
	}, extra...)
}

// childEnv is the environment of a producer child process: the password
// travels in the environment, never on the command line.
func childEnv() []string {
	return append(os.Environ(), fmt.Sprintf("PRODUCER_IPS_PASSWORD=%s", testPassword))
}

// childCommand is a producer child process with childEnv.
func childCommand(ctx context.Context, bin string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = childEnv()
	return cmd
}
