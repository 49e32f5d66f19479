package main

import (
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// TestReplicasBackfillThePartitionsTheyOwn: two replicas started together
// with -discover -backfill on one state topic publish every asset's history
// once between them, keep the backfill's progress per partition, and once
// every partition is complete list the catalog no more.
func TestReplicasBackfillThePartitionsTheyOwn(t *testing.T) {
	s := newReplicaStack(t, 600, 2)
	s.sim.SetLatency(2 * time.Millisecond)
	extra := []string{"-discover", "-backfill", "-since", "1h"}
	a := startReplica(t, s, extra...)
	b := startReplica(t, s, extra...)
	want := s.expected(t)
	checkExactlyOnce(t, s.topic(t, len(want)), want)
	waitFor(t, "both replicas own partitions", time.Minute, func() bool { return a.assignments() >= 1 && b.assignments() >= 1 })
	waitFor(t, "no more catalog listing", time.Minute, func() bool {
		s.sim.ResetCalls()
		time.Sleep(time.Second)
		return s.sim.Calls(ipstest.OpSearchAssets) == 0
	})
	s.sim.AddActivity([]int{1, 2, 3, 599}, 1)
	want = s.expected(t)
	checkExactlyOnce(t, s.topic(t, len(want)), want)
}
