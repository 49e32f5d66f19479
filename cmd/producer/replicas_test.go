package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
)

const testStateTopic = "ips.asset-job-logs.state"

// newReplicaStack is newStack with a broker that accepts group session
// timeouts down to 1s, so that replicas hand over quickly in tests.
func newReplicaStack(t *testing.T, assets, entries int) *stack {
	t.Helper()
	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(assets, entries))
	t.Cleanup(sim.Close)
	brokers, cluster := kafkatest.NewCluster(t, testTopic, 3, kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
	return &stack{sim: sim, cluster: cluster, brokers: brokers, state: filepath.Join(t.TempDir(), "state.db")}
}

// replica is one producer running in-process, talking to IPS through a
// proxy that records which assets it asked for.
type replica struct {
	stderr syncBuffer
	cancel context.CancelFunc
	done   chan error
	proxy  *httptest.Server

	mu     sync.Mutex
	polled map[string]int // getAssetJobLogs by asset
}

var assetHandleField = regexp.MustCompile(`<(?:\w+:)?assetHandle>([^<]*)</`)

func startReplica(t *testing.T, s *stack, extra ...string) *replica {
	t.Helper()
	r := &replica{done: make(chan error, 1), polled: map[string]int{}}
	r.proxy = countingProxy(t, s.sim.URL(), &r.mu, r.polled)
	args := viaProxy(append(s.args(
		"-state", filepath.Join(t.TempDir(), "unused.db"), // a fresh working directory each
		"-state-topic", testStateTopic, "-create-topic", "-group-session-timeout", "6s", "-poll-interval", "200ms",
	), extra...), r.proxy)
	if slices.Contains(extra, "-discover") { // no asset list with it
		i := slices.Index(args, "-assets")
		args = slices.Delete(args, i, i+2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- run(ctx, args, s.env(), io.Discard, &r.stderr) }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("replica stderr:\n%s", lastBytes(r.stderr.String(), 60000))
		}
	})
	return r
}

// countingProxy forwards to the IPS simulator at simURL and counts, in
// polled, the getAssetJobLogs requests by asset handle.
func countingProxy(t *testing.T, simURL string, mu *sync.Mutex, polled map[string]int) *httptest.Server {
	t.Helper()
	target, _ := url.Parse(simURL)
	target.Path = ""
	rp := httputil.NewSingleHostReverseProxy(target)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		if strings.Contains(string(body), "getAssetJobLogs") {
			if m := assetHandleField.FindSubmatch(body); m != nil {
				mu.Lock()
				polled[string(m[1])]++
				mu.Unlock()
			}
		}
		req.Body = io.NopCloser(strings.NewReader(string(body)))
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(proxy.Close)
	return proxy
}

// viaProxy points the -ips-url of args at proxy.
func viaProxy(args []string, proxy *httptest.Server) []string {
	for i, a := range args {
		if a == "-ips-url" {
			args[i+1] = proxy.URL + ipstest.Path
		}
	}
	return args
}

// stop shuts the replica down as SIGTERM would and returns its error.
func (r *replica) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("replica stopped with %v\nstderr:\n%s", err, r.stderr.String())
	}
}

func (r *replica) resetPolled() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := maps.Clone(r.polled)
	clear(r.polled) // the proxy keeps counting into this map
	return out
}

func (r *replica) peekPolled() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.polled)
}

// assignments counts the group assignments the replica logged with at
// least one partition.
func (r *replica) assignments() int {
	n := 0
	for _, line := range strings.Split(r.stderr.String(), "\n") {
		if strings.Contains(line, `"msg":"group assignment"`) && !strings.Contains(line, `"partitions":null`) && !strings.Contains(line, `"partitions":[]`) {
			n++
		}
	}
	return n
}

// TestReplicasShareTheCatalogAndTakeOver: two replicas on one state topic
// poll disjoint halves of the catalog that together cover it, publish
// every entry once, and when one leaves the other takes its assets over
// and publishes their new entries once.
func TestReplicasShareTheCatalogAndTakeOver(t *testing.T) {
	s := newReplicaStack(t, 60, 4)
	a := startReplica(t, s)
	want := s.expected(t)
	checkExactlyOnce(t, s.topic(t, len(want)), want)

	b := startReplica(t, s)
	waitFor(t, "both replicas own partitions", time.Minute, func() bool { return a.assignments() >= 2 && b.assignments() >= 1 })
	time.Sleep(time.Second) // let the rounds started before the rebalance end
	a.resetPolled()
	b.resetPolled()
	var pa, pb map[string]int
	waitFor(t, "every asset was polled again", time.Minute, func() bool {
		pa, pb = a.peekPolled(), b.peekPolled()
		for _, asset := range s.sim.AssetHandles() {
			if pa[asset]+pb[asset] == 0 {
				return false
			}
		}
		return true
	})
	for _, asset := range s.sim.AssetHandles() {
		switch {
		case pa[asset] > 0 && pb[asset] > 0:
			t.Errorf("asset %s polled by both replicas (%d and %d times)", asset, pa[asset], pb[asset])
		case pa[asset] == 0 && pb[asset] == 0:
			t.Errorf("asset %s polled by neither replica", asset)
		}
	}
	if len(pa) == 0 || len(pb) == 0 {
		t.Errorf("replica A polled %d assets and B %d: want the catalog split between them", len(pa), len(pb))
	}
	t.Logf("replica A polled %d assets, B %d", len(pa), len(pb))

	// B leaves; A takes its assets over and publishes their new entries.
	b.stop(t)
	var all []int
	for i := range 60 {
		all = append(all, i)
	}
	s.sim.AddActivity(all, 2)
	want = s.expected(t)
	checkExactlyOnce(t, s.topic(t, len(want)), want)

	// A new replica from an empty working directory publishes nothing again.
	c := startReplica(t, s)
	waitFor(t, "the new replica owns partitions", time.Minute, func() bool { return c.assignments() >= 1 })
	time.Sleep(time.Second)
	checkExactlyOnce(t, s.topic(t, len(want)), want)
}

// TestMigrateStateToTopic: a producer that ran on the state file, moved to
// the topic with -migrate-state-to-topic, re-publishes nothing and skips
// nothing.
func TestMigrateStateToTopic(t *testing.T) {
	s := newReplicaStack(t, 30, 3)
	ctx := t.Context()
	if r := runProducer(ctx, s.args("-once"), s.env()); r.err != nil {
		t.Fatal(r)
	}
	r := runProducer(ctx, s.args("-state-topic", testStateTopic, "-create-topic", "-migrate-state-to-topic"), s.env())
	if r.err != nil {
		t.Fatal(r)
	}
	if !strings.Contains(r.stderr, `"assets":30`) {
		t.Errorf("migration log does not say 30 assets were copied:\n%s", r.stderr)
	}
	// Again into the same topic: refused, nothing overwritten.
	again := runProducer(ctx, s.args("-state-topic", testStateTopic, "-migrate-state-to-topic"), s.env())
	if again.err == nil || !strings.Contains(again.err.Error(), "already holds") {
		t.Errorf("second migration: got %v, want a refusal naming the checkpoints already there", again.err)
	}

	var some []int
	for i := 0; i < 30; i += 3 {
		some = append(some, i)
	}
	s.sim.AddActivity(some, 2)
	if r := runProducer(ctx, s.args("-once", "-state", filepath.Join(t.TempDir(), "none.db"), "-state-topic", testStateTopic,
		"-group-session-timeout", "6s"), s.env()); r.err != nil {
		t.Fatal(r)
	}
	want := s.expected(t)
	checkExactlyOnce(t, s.topic(t, len(want)), want)
}

// BenchmarkReplicasIPSCalls measures what sharing costs in IPS calls: 1, 2
// and 3 replicas (in-process, on an embedded broker) poll one catalog of
// 120 assets every 200ms for 3s once all own partitions; the metrics are
// getAssetJobLogs calls per asset per second (the same for every count when
// each asset is polled by one replica per round) and, in discovery mode
// (-discover, with 5 new jobs a second), getJobLogs and getJobLogDetails
// calls per second, which every replica makes for itself.
func BenchmarkReplicasIPSCalls(b *testing.B) {
	for _, mode := range []string{"assets", "discover"} {
		for _, n := range []int{1, 2, 3} {
			b.Run(fmt.Sprintf("%s/%d-replicas", mode, n), func(b *testing.B) {
				for b.Loop() {
					benchReplicas(b, mode, n)
				}
			})
		}
	}
}

func benchReplicas(b *testing.B, mode string, n int) {
	b.StopTimer()
	defer b.StartTimer()
	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(120, 2))
	defer sim.Close()
	cluster, err := kafkatest.Start(testTopic, 3, kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	s := &stack{sim: sim, brokers: cluster.Brokers()}
	var all []int
	for i := range 120 {
		all = append(all, i)
	}
	if mode == "discover" {
		for range 5 {
			sim.AddActivity(all[:40], 1)
		}
	}
	var rs []*benchReplica
	for range n {
		rs = append(rs, startBenchReplica(b, s, mode))
	}
	defer func() {
		for _, r := range rs {
			r.cancel()
			<-r.done
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		owning := 0
		for _, r := range rs {
			if strings.Count(r.stderr.String(), `"msg":"group assignment"`) > 0 && !strings.HasSuffix(lastAssignment(r.stderr.String()), `"partitions":null`) {
				owning++
			}
		}
		if owning == min(n, 3) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("replicas did not all get partitions")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if mode == "discover" {
		// New jobs during the window: each touches a few assets.
		actx, stop := context.WithCancel(context.Background())
		defer stop()
		sim.StartActivity(actx, 5)
	}
	time.Sleep(time.Second)
	sim.ResetCalls()
	const window = 3 * time.Second
	time.Sleep(window)
	perSec := func(op string) float64 { return float64(sim.Calls(op)) / window.Seconds() }
	b.ReportMetric(perSec("getAssetJobLogs")/120, "assetcalls/asset/s")
	if mode == "discover" {
		b.ReportMetric(perSec("getJobLogs"), "getJobLogs/s")
		b.ReportMetric(perSec("getJobLogDetails"), "getJobLogDetails/s")
	}
}

func lastAssignment(log string) string {
	i := strings.LastIndex(log, `"msg":"group assignment"`)
	if i < 0 {
		return ""
	}
	line := log[i:]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if strings.Contains(line, `"partitions":null`) || strings.Contains(line, `"partitions":[]`) {
		return `"partitions":null`
	}
	return line
}

type benchReplica struct {
	stderr syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func startBenchReplica(b *testing.B, s *stack, mode string) *benchReplica {
	r := &benchReplica{done: make(chan error, 1)}
	args := []string{
		"-ips-url", s.sim.URL(), "-ips-user", testUser, "-company", s.sim.CompanyHandle(),
		"-brokers", strings.Join(s.brokers, ","), "-topic", testTopic, "-log-format", "json",
		"-state-topic", testStateTopic, "-create-topic", "-group-session-timeout", "6s", "-poll-interval", "200ms",
	}
	if mode == "discover" {
		args = append(args, "-discover", "-since", "1h", "-discover-overlap", "1m")
	} else {
		args = append(args, "-assets", strings.Join(s.sim.AssetHandles(), ","))
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- run(ctx, args, s.env(), io.Discard, &r.stderr) }()
	return r
}

func lastBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

// TestReplicasBrokerRestartedUnderLoad: two replicas publish while the
// broker (embedded, on a fixed port and data directory) stops and starts
// again; activity goes on meanwhile. Both replicas ride it out (the group
// rejoins, state writes and publishes are retried) and every entry ends up
// on the topic exactly once. The rebalance during the outage hands
// partitions over while writes of their old owner still wait for the
// broker: those writes are abandoned, not sent after the new owner has
// read the partition back.
func TestReplicasBrokerRestartedUnderLoad(t *testing.T) {
	start := restartableBroker(t, kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
	first := start(true)
	sim := ipstest.NewServer(ipstest.WithCredentials(testUser, testPassword), ipstest.WithCatalog(60, 3))
	t.Cleanup(sim.Close)
	s := &stack{sim: sim, brokers: first.ListenAddrs(), state: filepath.Join(t.TempDir(), "unused.db")}
	a := startReplica(t, s, "-kafka-retry-max", "0")
	b := startReplica(t, s, "-kafka-retry-max", "0")
	want := s.expected(t)
	s.topic(t, len(want))
	waitFor(t, "both replicas own partitions", time.Minute, func() bool { return a.assignments() >= 1 && b.assignments() >= 1 })

	var all []int
	for i := range 60 {
		all = append(all, i)
	}
	sim.AddActivity(all, 1) // being published as the broker goes
	time.Sleep(100 * time.Millisecond)
	first.Close()
	sim.AddActivity(all, 1) // while it is down
	time.Sleep(2 * time.Second)
	start(false)
	sim.AddActivity(all, 1) // after
	want = s.expected(t)
	// Writes abandoned by a replica that lost their assets may hold the
	// writer's queue for a partition up to the write timeout (10s) after
	// the restart: the new owner's entries come late, not twice.
	got := s.topicWithin(t, len(want), 60*time.Second)
	time.Sleep(2 * time.Second) // anything sent twice would show by now
	got = s.topic(t, len(want))
	checkExactlyOnce(t, got, want)
	t.Logf("broker restarted under 2 replicas: %d records for %d entries, each exactly once", len(got), len(want))
}
