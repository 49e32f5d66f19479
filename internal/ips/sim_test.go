package ips_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// TestClientAgainstSimulator checks the client and the simulator against
// each other: both follow the IPS reference independently, so a shape one
// of them gets wrong shows here.
func TestClientAgainstSimulator(t *testing.T) {
	for _, prefix := range []ipstest.Prefix{ipstest.PrefixDefault, ipstest.PrefixNS1, ipstest.PrefixTNS, ipstest.PrefixRotate} {
		t.Run(prefix.String(), func(t *testing.T) {
			sim := ipstest.NewServer(ipstest.WithCatalog(120, 7), ipstest.WithPrefix(prefix), ipstest.WithSeed(9))
			defer sim.Close()
			job := sim.AddActivity([]int{3, 77, 119}, 2)
			c, err := ips.New(ips.Config{URL: sim.URL(), User: "api@example.com", Password: "secret"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			company := sim.CompanyHandle()
			for i, handle := range sim.AssetHandles() {
				got, _, err := c.AssetJobLogs(ctx, company, handle)
				if err != nil {
					t.Fatalf("asset %d: %v", i, err)
				}
				entries := sim.Entries(i)
				if len(got) != len(entries) {
					t.Fatalf("asset %d: got %d entries, want %d", i, len(got), len(entries))
				}
				for k, e := range entries {
					want := e.AssetJobLog()
					if len(want.AuxArray) == 0 && len(got[k].AuxArray) == 0 {
						want.AuxArray, got[k].AuxArray = nil, nil
					}
					if !reflect.DeepEqual(got[k], want) {
						t.Fatalf("asset %d entry %d:\n got %+v\nwant %+v", i, k, got[k], want)
					}
				}
			}
			jobs, err := c.JobLogs(ctx, company, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs) != 1 || jobs[0].JobHandle != string(job) || jobs[0].Running() {
				t.Fatalf("recent jobs: got %+v, want the one ended job %s", jobs, job)
			}
			assets, err := c.JobAssets(ctx, company, string(job))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{sim.AssetHandle(3), sim.AssetHandle(77), sim.AssetHandle(119)}
			if !slices.Equal(slices.Sorted(slices.Values(assets)), slices.Sorted(slices.Values(want))) {
				t.Fatalf("job assets: got %v, want %v", assets, want)
			}
		})
	}
}
