package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// catalogArgs runs the producer without an asset list; extra chooses the
// mode (-all-assets, or -discover -backfill).
func (s *stack) catalogArgs(extra ...string) []string {
	return append([]string{
		"-ips-url", s.sim.URL(), "-ips-user", testUser, "-company", s.sim.CompanyHandle(),
		"-brokers", strings.Join(s.brokers, ","), "-topic", testTopic, "-state", s.state,
		"-log-format", "json", "-ips-retry-max", "30s",
	}, extra...)
}

func TestAllAssetsPublishesTheWholeCatalog(t *testing.T) {
	ctx := t.Context()
	s := newStack(t, 1200, 3, ipstest.WithSearchPageCap(500))

	r := runProducer(ctx, s.catalogArgs("-all-assets", "-once"), s.env())
	if r.err != nil {
		t.Fatal(r)
	}
	want := s.expected(t)
	if len(want) != 1200*3 {
		t.Fatalf("simulator holds %d entries, want %d", len(want), 1200*3)
	}
	checkExactlyOnce(t, s.topic(t, len(want)), want)
	if got := s.sim.Calls(ipstest.OpSearchAssets); got != 3 {
		t.Errorf("searchAssets calls: %d, want 3 pages of 500", got)
	}

	t.Run("a second pass publishes only new entries, new assets included", func(t *testing.T) {
		s.sim.ResetCalls()
		fresh := s.sim.AddAssets(3)
		s.sim.AddActivity(append(fresh, 0, 1199), 2)
		want := s.expected(t)
		if len(want) != 1200*3+5*2 {
			t.Fatalf("simulator holds %d entries, want %d", len(want), 1200*3+5*2)
		}
		if r := runProducer(ctx, s.catalogArgs("-all-assets", "-once"), s.env()); r.err != nil {
			t.Fatal(r)
		}
		checkExactlyOnce(t, s.topic(t, len(want)), want)
		if got := s.sim.Calls(ipstest.OpGetAssetJobLogs); got != 1203 {
			t.Errorf("getAssetJobLogs calls: %d, want one per asset (1203)", got)
		}
	})

	t.Run("an authorization fault on searchAssets stops with one line and exit 1", func(t *testing.T) {
		s.sim.Inject(ipstest.Fault{Op: ipstest.OpSearchAssets, Kind: ipstest.FaultSOAP, Detail: ipstest.AuthorizationFault,
			Code: 20003, Reason: "No permission for operation searchAssets", Times: 1})
		r := runProducer(ctx, s.catalogArgs("-all-assets", "-once"), s.env())
		var line strings.Builder
		if code := exitCode(r.err, &line); code != 1 {
			t.Fatalf("got %v (exit %d), want exit 1", r.err, code)
		}
		if n := strings.Count(line.String(), "\n"); n != 1 {
			t.Errorf("stderr line of the exit: %d lines, want 1: %q", n, line.String())
		}
		for _, want := range []string{"searchAssets", "authorization", "20003"} {
			if !strings.Contains(r.err.Error(), want) {
				t.Errorf("error %q does not say %q", r.err, want)
			}
		}
	})
}

// TestBackfillThenFollow is the journey a new user takes: -discover
// -backfill publishes every asset's whole history, activity during and
// after the backfill is published exactly once, and later runs go straight
// to discovery.
func TestBackfillThenFollow(t *testing.T) {
	ctx := t.Context()
	const n = 3000
	s := newStack(t, n, 2, ipstest.WithLatency(time.Millisecond))
	// The base history is older than -since: only the backfill publishes
	// it. A tiny overlap shows that discovery takes over from the
	// backfill's start, not from its end.
	args := func(extra ...string) []string {
		return s.catalogArgs(append([]string{"-discover", "-backfill", "-once", "-since", "1h", "-discover-overlap", "1ms",
			"-concurrency", "16"}, extra...)...)
	}

	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args("-progress", "on"), s.env(), &stdout, &stderr) }()
	// While the backfill runs: activity on assets it has done, on assets it
	// has not reached, and on an asset created meanwhile.
	for s.sim.Calls(ipstest.OpGetAssetJobLogs) < n/3 {
		time.Sleep(5 * time.Millisecond)
	}
	fresh := s.sim.AddAssets(1)
	s.sim.AddActivity([]int{0, 1, n - 1, fresh[0]}, 2)
	job := s.sim.StartJob([]int{2, n - 2}, 1)
	if err := <-done; err != nil {
		t.Fatalf("first run: %v\n%s", err, stderr.String())
	}
	want := s.expected(t)
	if len(want) != n*2+4*2+2 {
		t.Fatalf("simulator holds %d entries, want %d", len(want), n*2+10)
	}
	checkExactlyOnce(t, s.topic(t, len(want)), want)
	if out := stderr.String(); !strings.Contains(out, fmt.Sprintf("/%d", n)) {
		t.Errorf("the progress bar does not count to the catalog's %d assets:\n%.2000s", n, out)
	}

	t.Run("later runs follow activity and make no searchAssets call", func(t *testing.T) {
		s.sim.ResetCalls()
		if err := s.sim.AppendToJob(job, []int{3}, 1); err != nil {
			t.Fatal(err)
		}
		if err := s.sim.EndJob(job); err != nil {
			t.Fatal(err)
		}
		s.sim.AddActivity([]int{5, fresh[0]}, 1)
		if r := runProducer(ctx, args(), s.env()); r.err != nil {
			t.Fatal(r)
		}
		want := s.expected(t)
		checkExactlyOnce(t, s.topic(t, len(want)), want)
		if got := s.sim.Calls(ipstest.OpSearchAssets); got != 0 {
			t.Errorf("searchAssets calls after the backfill: %d, want 0", got)
		}
		if got := s.sim.Calls(ipstest.OpGetAssetJobLogs); got > 10 {
			t.Errorf("getAssetJobLogs calls: %d, want only the few assets with activity", got)
		}
	})
}
