package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestGroupPauseInvalidatesClaims: after a pause longer than a third of the
// session timeout (as after SIGSTOP), claims taken before it are invalid at
// once, nothing can be claimed until the member has joined again, and then
// it owns its partitions again.
func TestGroupPauseInvalidatesClaims(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "jobs"),
		kfake.BrokerConfigs(map[string]string{"group.min.session.timeout.ms": "1000"}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	store, err := OpenStateStore(t.Context(), StateStoreConfig{
		Kafka: Config{Brokers: brokers, Topic: "jobs", CreateTopic: true}, Topic: "jobs.state", Group: "g", Company: "c|6",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	g, err := NewGroup(GroupConfig{Kafka: Config{Brokers: brokers}, ID: "g", Store: store, Company: "c|6", SessionTimeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go g.Run(ctx)
	if err := g.WaitAssigned(ctx); err != nil {
		t.Fatal(err)
	}
	before := g.current.Load()
	held, ok := g.Claim("a|6|1|1")
	if !ok {
		t.Fatal("the only member cannot claim an asset")
	}

	// The pause: the detector's last tick lies further back than pauseMax.
	g.lastTick.Store(int64(time.Since(g.startedAt) - 2*g.pauseMax))
	if held.Valid() {
		t.Error("a claim is valid right after a pause longer than pauseMax")
	}
	if _, ok := g.Claim("a|6|1|2"); ok {
		t.Error("an asset can be claimed right after the pause")
	}
	// Once the detector has ticked again, the process is awake, but the
	// generation the pause interrupted stays lost.
	time.Sleep(3 * pauseTick)
	if held.Valid() {
		t.Error("a claim taken before the pause is valid again once the process is awake")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cur := g.current.Load()
		if cur != nil && cur != before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the member did not join again after the pause")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if held.Valid() {
		t.Error("the claim of the generation before the pause is valid again")
	}
	held.Release()
	c2, ok := g.Claim("a|6|1|2")
	if !ok {
		t.Fatal("nothing can be claimed after rejoining")
	}
	c2.Release()
}
