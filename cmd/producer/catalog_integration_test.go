//go:build integration

package main

import (
	"strings"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// TestIntegrationBackfillThenFollow runs the journey against the real
// broker: -discover -backfill publishes every asset's history once,
// activity during and after it is published once, and a later run makes no
// searchAssets call.
func TestIntegrationBackfillThenFollow(t *testing.T) {
	ctx := t.Context()
	const n = 2000
	rs := newRealStack(t, n, 2, ipstest.WithLatency(time.Millisecond), ipstest.WithSearchPageCap(700))
	args := func() []string {
		return []string{
			"-ips-url", rs.sim.URL(), "-ips-user", testUser, "-company", rs.sim.CompanyHandle(),
			"-discover", "-backfill", "-since", "1h", "-once",
			"-brokers", strings.Join(rs.brokers, ","), "-topic", rs.topic, "-state", rs.state, "-log-format", "json",
		}
	}
	done := make(chan result, 1)
	go func() { done <- runProducer(ctx, args(), rs.stack().env()) }()
	for rs.sim.Calls(ipstest.OpGetAssetJobLogs) < n/3 {
		time.Sleep(5 * time.Millisecond)
	}
	fresh := rs.sim.AddAssets(2)
	rs.sim.AddActivity([]int{0, n - 1, fresh[0], fresh[1]}, 1)
	if r := <-done; r.err != nil {
		t.Fatal(r)
	}
	s := rs.stack()
	want := s.expected(t)
	checkExactlyOnce(t, rs.readTopic(t, len(want), 60*time.Second), want)
	if got := rs.sim.Calls(ipstest.OpSearchAssets); got != 3 {
		t.Errorf("searchAssets calls: %d, want 3 pages of at most 700", got)
	}

	rs.sim.ResetCalls()
	rs.sim.AddActivity([]int{7, fresh[1]}, 2)
	if r := runProducer(ctx, args(), s.env()); r.err != nil {
		t.Fatal(r)
	}
	want = s.expected(t)
	checkExactlyOnce(t, rs.readTopic(t, len(want), 60*time.Second), want)
	if got := rs.sim.Calls(ipstest.OpSearchAssets); got != 0 {
		t.Errorf("searchAssets calls after the backfill: %d, want 0", got)
	}
}
