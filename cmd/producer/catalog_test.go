package main

import (
	"strings"
	"testing"

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
