package main

import (
	"sync"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// TestDiscoveryCostWhileABigJobRuns follows a job that touches thousands of
// assets over several rounds: quiet rounds cost no asset call, new rows
// about one call per newly touched asset, and the job at most two calls per
// asset it touched, with every entry published once.
func TestDiscoveryCostWhileABigJobRuns(t *testing.T) {
	ctx := t.Context()
	const catalog, first = 3000, 2000
	s := newStack(t, catalog, 1)
	idx := make([]int, first)
	for i := range idx {
		idx[i] = i
	}
	job := s.sim.StartJob(idx, 1)
	total := 0
	round := func(name string) (assetCalls, detailCalls int) {
		t.Helper()
		s.sim.ResetCalls()
		if r := runProducer(ctx, s.discoveryArgs("-concurrency", "16"), s.env()); r.err != nil {
			t.Fatalf("%s: %v", name, r)
		}
		assetCalls, detailCalls = s.sim.Calls(ipstest.OpGetAssetJobLogs), s.sim.Calls(ipstest.OpGetJobLogDetails)
		total += assetCalls
		t.Logf("%s: getAssetJobLogs %d, getJobLogDetails %d, getJobLogs %d", name, assetCalls, detailCalls, s.sim.Calls(ipstest.OpGetJobLogs))
		return assetCalls, detailCalls
	}

	if calls, _ := round("first sight of the running job"); calls != first {
		t.Errorf("first round: %d getAssetJobLogs calls, want %d", calls, first)
	}
	for i := range 3 {
		if calls, details := round("quiet round"); calls != 0 || details > 1 {
			t.Errorf("quiet round %d: %d getAssetJobLogs and %d getJobLogDetails calls, want 0 and 1", i, calls, details)
		}
	}
	// 20 new rows: 10 on assets the job touched already, 10 on new ones.
	var more []int
	for i := range 10 {
		more = append(more, i*7, first+i)
	}
	if err := s.sim.AppendToJob(job, more, 1); err != nil {
		t.Fatal(err)
	}
	if calls, _ := round("20 new rows"); calls != len(more) {
		t.Errorf("20 new rows: %d getAssetJobLogs calls, want %d", calls, len(more))
	}
	if err := s.sim.EndJob(job); err != nil {
		t.Fatal(err)
	}
	round("the job ended")
	if calls, _ := round("quiet after the end"); calls != 0 {
		t.Errorf("after the job ended: %d getAssetJobLogs calls, want 0", calls)
	}
	want := s.expectedFor(t, touchedBy(s, append(idx, more...)))
	checkExactlyOnce(t, s.topic(t, len(want)), want)
	// At most two calls per touched asset, plus one per row added after
	// its asset was first polled.
	if touched := first + 10; total > 2*touched+len(more) {
		t.Errorf("the job cost %d getAssetJobLogs calls for %d touched assets, want at most 2 per asset", total, touched)
	} else {
		t.Logf("the job cost %d getAssetJobLogs calls for %d touched assets (%.3f per asset)", total, touched, float64(total)/float64(touched))
	}
}

func touchedBy(s *stack, idx []int) map[string]bool {
	out := map[string]bool{}
	for _, i := range idx {
		out[s.sim.AssetHandle(i)] = true
	}
	return out
}

// TestDiscoveryFindsADenseBurstWhole submits 600 jobs within 300 ms, more
// than the row limit in less than the smallest window.
func TestDiscoveryFindsADenseBurstWhole(t *testing.T) {
	ctx := t.Context()
	var mu sync.Mutex
	clock := time.Now().Add(-time.Hour)
	s := newStack(t, 1000, 1, ipstest.WithClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(500 * time.Microsecond)
		return clock
	}))
	touched := map[string]bool{}
	for i := range 600 {
		s.sim.AddActivity([]int{i}, 1)
		touched[s.sim.AssetHandle(i)] = true
	}
	r := runProducer(ctx, s.discoveryArgs(), s.env())
	if r.err != nil {
		t.Fatal(r)
	}
	want := s.expectedFor(t, touched)
	checkExactlyOnce(t, s.topic(t, len(want)), want)
	if calls := s.sim.Calls(ipstest.OpGetJobLogs); calls > 40 {
		t.Errorf("getJobLogs calls: %d, want a bounded number (at most 40)", calls)
	} else {
		t.Logf("getJobLogs calls: %d", calls)
	}
}

// TestDiscoveryOverlapFindsLateListedJobs: a job that started before the
// last round ended but that IPS lists only afterwards is still found.
func TestDiscoveryOverlapFindsLateListedJobs(t *testing.T) {
	ctx := t.Context()
	var mu sync.Mutex
	var lag time.Duration
	s := newStack(t, 100, 1, ipstest.WithClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(-lag)
	}))
	s.sim.AddActivity([]int{1}, 1)
	if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
		t.Fatal(r)
	}
	// A job that started five minutes ago, listed only now.
	mu.Lock()
	lag = 5 * time.Minute
	mu.Unlock()
	s.sim.AddActivity([]int{2, 3}, 1)
	if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
		t.Fatal(r)
	}
	want := s.expectedFor(t, touchedBy(s, []int{1, 2, 3}))
	checkExactlyOnce(t, s.topic(t, len(want)), want)
}

// TestDiscoveryLastPassCatchesEntriesTrailingTheirRows: an entry that IPS
// writes after its job row, too late for the poll the row caused, is
// published by the pass over the job's assets when it ends.
func TestDiscoveryLastPassCatchesEntriesTrailingTheirRows(t *testing.T) {
	ctx := t.Context()
	s := newStack(t, 50, 1)
	job := s.sim.StartJob([]int{1, 2}, 1)
	if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
		t.Fatal(r)
	}
	release, err := s.sim.AppendToJobLagging(job, []int{3}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
		t.Fatal(r)
	}
	release()
	if err := s.sim.EndJob(job); err != nil {
		t.Fatal(err)
	}
	if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
		t.Fatal(r)
	}
	want := s.expectedFor(t, touchedBy(s, []int{1, 2, 3}))
	checkExactlyOnce(t, s.topic(t, len(want)), want)
}
