package main

import (
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// discoveryArgs runs the producer in discovery mode (no asset list).
func (s *stack) discoveryArgs(extra ...string) []string {
	return append([]string{
		"-ips-url", s.sim.URL(), "-ips-user", testUser, "-company", s.sim.CompanyHandle(), "-discover",
		"-brokers", strings.Join(s.brokers, ","), "-topic", testTopic, "-state", s.state,
		"-log-format", "json", "-ips-retry-max", "30s", "-once",
	}, extra...)
}

// expectedFor returns the expected entries of the given assets only.
func (s *stack) expectedFor(t *testing.T, assets map[string]bool) map[string]pipeline.AssetJobLog {
	t.Helper()
	want := map[string]pipeline.AssetJobLog{}
	for id, e := range s.expected(t) {
		if assets[e.AssetHandle] {
			want[id] = e
		}
	}
	return want
}

func pick(r *rand.Rand, n, of int) []int {
	return r.Perm(of)[:n]
}

func TestDiscoveryFollowsActivityNotCatalog(t *testing.T) {
	ctx := t.Context()
	const catalog = 3000
	s := newStack(t, catalog, 3)
	r := rand.New(rand.NewPCG(1, 2))
	touched := map[string]bool{}
	handles := s.sim.AssetHandles()
	// Recent jobs touch 36 assets; the base catalog is older than -since.
	for j := 0; j < 4; j++ {
		idx := pick(r, 9, catalog)
		s.sim.AddActivity(idx, 2)
		for _, i := range idx {
			touched[handles[i]] = true
		}
	}

	run1 := runProducer(ctx, s.discoveryArgs(), s.env())
	if run1.err != nil {
		t.Fatal(run1)
	}
	want := s.expectedFor(t, touched)
	checkExactlyOnce(t, s.topic(t, len(want)), want)
	calls := s.sim.Calls(ipstest.OpGetAssetJobLogs)
	if calls < len(touched) || calls > len(touched)+len(touched)/10 {
		t.Errorf("first round: %d getAssetJobLogs calls for %d touched assets in a %d-asset catalog", calls, len(touched), catalog)
	}
	t.Logf("first round: %d touched assets, getAssetJobLogs %d, getJobLogs %d, getJobLogDetails %d",
		len(touched), calls, s.sim.Calls(ipstest.OpGetJobLogs), s.sim.Calls(ipstest.OpGetJobLogDetails))

	t.Run("new activity on a handful of assets costs about that many calls", func(t *testing.T) {
		s.sim.ResetCalls()
		idx := []int{5, 50, 500, 2999, 1234}
		s.sim.AddActivity(idx, 1)
		for _, i := range idx {
			touched[handles[i]] = true
		}
		if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
			t.Fatal(r)
		}
		want := s.expectedFor(t, touched)
		checkExactlyOnce(t, s.topic(t, len(want)), want)
		if got := s.sim.Calls(ipstest.OpGetAssetJobLogs); got < len(idx) || got > len(idx)+2 {
			t.Errorf("getAssetJobLogs calls: got %d, want about %d", got, len(idx))
		}
	})

	t.Run("a still-running job's later entries are published when it goes on and ends", func(t *testing.T) {
		job := s.sim.StartJob([]int{7, 8}, 1)
		touched[handles[7]], touched[handles[8]] = true, true
		if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
			t.Fatal(r)
		}
		checkExactlyOnce(t, s.topic(t, len(s.expectedFor(t, touched))), s.expectedFor(t, touched))
		if err := s.sim.AppendToJob(job, []int{7, 9}, 2); err != nil {
			t.Fatal(err)
		}
		touched[handles[9]] = true
		if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
			t.Fatal(r)
		}
		checkExactlyOnce(t, s.topic(t, len(s.expectedFor(t, touched))), s.expectedFor(t, touched))
		if err := s.sim.AppendToJob(job, []int{8}, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.sim.EndJob(job); err != nil {
			t.Fatal(err)
		}
		if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
			t.Fatal(r)
		}
		want := s.expectedFor(t, touched)
		checkExactlyOnce(t, s.topic(t, len(want)), want)

		s.sim.ResetCalls()
		if r := runProducer(ctx, s.discoveryArgs(), s.env()); r.err != nil {
			t.Fatal(r)
		}
		if got := s.sim.Calls(ipstest.OpGetAssetJobLogs); got != 0 {
			t.Errorf("quiet round after the job ended: %d getAssetJobLogs calls, want 0", got)
		}
	})
}

func TestDiscoverySplitsFullWindows(t *testing.T) {
	ctx := t.Context()
	// Jobs start minutes apart over the last hours, so that splitting the
	// window can separate them.
	var mu sync.Mutex
	clock := time.Now().Add(-5 * time.Hour)
	s := newStack(t, 200, 1, ipstest.WithClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(3 * time.Minute)
		return clock
	}))
	touched := map[string]bool{}
	handles := s.sim.AssetHandles()
	for i := 0; i < 37; i++ {
		s.sim.AddActivity([]int{i * 5}, 1)
		touched[handles[i*5]] = true
	}
	r := runProducer(ctx, s.discoveryArgs("-discover-rows", "8"), s.env())
	if r.err != nil {
		t.Fatal(r)
	}
	want := s.expectedFor(t, touched)
	checkExactlyOnce(t, s.topic(t, len(want)), want)
	if got := s.sim.Calls(ipstest.OpGetJobLogs); got < 5 {
		t.Errorf("getJobLogs calls: got %d, want the 37-job window split into several", got)
	}
}
