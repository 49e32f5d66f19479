package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// member is one replica's store and group membership, running until the
// test ends or stop is called.
type member struct {
	store *kafka.StateStore
	group *kafka.Group
	stop  func()
	err   chan error
}

func startMember(t *testing.T, brokers []string, onAssigned func(context.Context, []int) error) *member {
	t.Helper()
	store, err := kafka.OpenStateStore(t.Context(), stateConfig(brokers, true))
	if err != nil {
		t.Fatal(err)
	}
	g, err := kafka.NewGroup(kafka.GroupConfig{
		Kafka: kafka.Config{Brokers: brokers}, ID: "assetjoblog.jobs", Store: store, Company: "c|6",
		SessionTimeout: 6 * time.Second, OnAssigned: onAssigned,
		Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{store: store, group: g, err: make(chan error, 1)}
	go func() { m.err <- g.Run(ctx) }()
	var once sync.Once
	m.stop = func() {
		once.Do(func() {
			g.Close()
			cancel()
			<-m.err
			store.Close()
		})
	}
	t.Cleanup(m.stop)
	return m
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func assets(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("a|6|1|%d", i))
	}
	return out
}

// owners returns, for each asset, the indexes of the members that can claim it.
func owners(ms []*member, all []string) map[string][]int {
	out := map[string][]int{}
	for _, a := range all {
		for i, m := range ms {
			if c, ok := m.group.Claim(a); ok {
				c.Release()
				out[a] = append(out[a], i)
			}
		}
	}
	return out
}

func exactlyOneOwner(ms []*member, all []string) bool {
	o := owners(ms, all)
	for _, a := range all {
		if len(o[a]) != 1 {
			return false
		}
	}
	return true
}

func TestGroupSharesTheAssetsAmongMembers(t *testing.T) {
	brokers, _ := groupCluster(t, 6)
	all := assets(60)
	a := startMember(t, brokers, nil)
	if err := a.group.WaitAssigned(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first member owns every asset", func() bool { return exactlyOneOwner([]*member{a}, all) })

	b := startMember(t, brokers, nil)
	ms := []*member{a, b}
	waitFor(t, "both members own partitions", func() bool {
		return len(a.group.OwnedPartitions()) > 0 && len(b.group.OwnedPartitions()) > 0 && exactlyOneOwner(ms, all)
	})
	pa, pb := a.group.OwnedPartitions(), b.group.OwnedPartitions()
	if len(pa)+len(pb) != 6 || slices.ContainsFunc(pa, func(p int) bool { return slices.Contains(pb, p) }) {
		t.Errorf("partitions %v and %v: want the 6 split between the members", pa, pb)
	}
	for a, o := range owners(ms, all) {
		if want := slices.Contains(ms[o[0]].group.OwnedPartitions(), ms[o[0]].store.PartitionOf(a)); !want {
			t.Errorf("asset %s claimed by member %d, which does not own its partition", a, o[0])
		}
	}

	// The one that leaves hands every asset to the other.
	b.stop()
	waitFor(t, "the remaining member owns every asset again", func() bool { return exactlyOneOwner([]*member{a}, all) })
}

// TestGroupHandsOverOnlyFinishedWork: a member whose partitions move
// finishes the asset it claimed before the new owner restores them, and the
// new owner sees what the old one committed.
func TestGroupHandsOverOnlyFinishedWork(t *testing.T) {
	brokers, _ := groupCluster(t, 2)
	a := startMember(t, brokers, nil)
	if err := a.group.WaitAssigned(t.Context()); err != nil {
		t.Fatal(err)
	}
	all := assets(40)
	claims := map[string]pipeline.Claim{}
	for _, asset := range all {
		c, ok := a.group.Claim(asset)
		if !ok {
			t.Fatalf("the only member cannot claim %s", asset)
		}
		claims[asset] = c
	}

	var mu sync.Mutex
	var events []string
	record := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	b := startMember(t, brokers, func(_ context.Context, parts []int) error {
		record(fmt.Sprintf("b restored %v", parts))
		return nil
	})
	// While the claims are held the generation does not end: the old owner
	// is finishing. It commits, then releases.
	time.Sleep(time.Second)
	cps := pipeline.NewCheckpoints(a.store)
	for _, asset := range all {
		if !claims[asset].Valid() {
			t.Fatalf("claim of %s turned invalid while draining a rebalance", asset)
		}
		if err := cps.CommitAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: asset}, pipeline.AssetCheckpoint{Watermark: time.UnixMilli(1e12)}); err != nil {
			t.Fatal(err)
		}
	}
	record("a committed")
	for _, c := range claims {
		c.Release()
	}
	waitFor(t, "b owns a partition", func() bool { return len(b.group.OwnedPartitions()) > 0 })
	mu.Lock()
	got := slices.Clone(events)
	mu.Unlock()
	if len(got) == 0 || got[0] != "a committed" {
		t.Errorf("events %q: want a's commit before b restored", got)
	}
	for _, c := range claims {
		if c.Valid() {
			t.Error("a claim of the ended generation is still valid")
			break
		}
	}
	// b sees a's commits for the assets it now owns.
	bcps := pipeline.NewCheckpoints(b.store)
	n := 0
	for _, asset := range all {
		if !b.group.Owns(asset) {
			continue
		}
		n++
		cp, err := bcps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: asset})
		if err != nil {
			t.Fatal(err)
		}
		if cp.Watermark.IsZero() {
			t.Errorf("b restored no checkpoint for %s", asset)
		}
	}
	if n == 0 {
		t.Error("b owns none of the 40 assets")
	}
}

func TestGroupStopsOnADamagedPartition(t *testing.T) {
	brokers, _ := groupCluster(t, 2)
	s := openState(t, stateConfig(brokers, true))
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: testStateTopic, Balancer: partitionBalancer(1)}
	defer w.Close()
	if err := w.WriteMessages(context.Background(), kafkago.Message{Key: []byte("assets\x00c|6\x00a|6|1|1"), Value: []byte{1, 2, 3}}); err != nil {
		t.Fatal(err)
	}
	g, err := kafka.NewGroup(kafka.GroupConfig{Kafka: kafka.Config{Brokers: brokers}, ID: "assetjoblog.jobs", Store: s, Company: "c|6", SessionTimeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = g.Run(ctx)
	if !errors.Is(err, pipeline.ErrCorruptState) {
		t.Fatalf("Run: got %v, want ErrCorruptState", err)
	}
	if _, ok := g.Claim("a|6|1|1"); ok {
		t.Error("an asset is claimable after a failed restore")
	}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// groupCluster starts a kfake cluster with the data topic that accepts
// session timeouts down to 1s (the default minimum, like Kafka's, is 6s).
func groupCluster(t *testing.T, partitions int) ([]string, *kfake.Cluster) {
	t.Helper()
	return kafkatest.NewCluster(t, testDataTopic, partitions, kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
}
