//go:build integration

package main

import (
	"context"
	"testing"
	"time"
)

// TestIntegrationKillsBrokerUnderReplicas: two replicas share a
// catalog on a state topic of the real broker while activity keeps
// arriving; the broker is killed with SIGKILL and started again on the same
// data. The group rejoins, each partition's new owner reads it back, the
// writes that waited for the broker are abandoned by a replica that lost
// their asset, and every entry ends up on the topic exactly once.
func TestIntegrationKillsBrokerUnderReplicas(t *testing.T) {
	bin := buildProducer(t)
	s := newRealStack(t, 120, 2)
	kafkaSh := brokerControl(t)

	twoReplicasSettled(t, bin, s, "-poll-interval", "200ms", "-kafka-retry-max", "0")

	activity, stopActivity := context.WithCancel(t.Context())
	defer stopActivity()
	s.sim.StartActivity(activity, 40)
	time.Sleep(time.Second)
	kafkaSh("kill9")
	time.Sleep(2 * time.Second)
	kafkaSh("restart")
	time.Sleep(3 * time.Second)
	stopActivity()
	time.Sleep(200 * time.Millisecond)

	want := s.expectedEntries(t)
	got := s.readTopic(t, len(want), 60*time.Second)
	time.Sleep(3 * time.Second) // anything sent twice would show by now
	got = s.readTopic(t, len(want), 60*time.Second)
	checkExactlyOnce(t, got, want)
	t.Logf("integration: broker SIGKILLed and restarted under 2 replicas and activity: %d entries, %d records", len(want), len(got))
}
