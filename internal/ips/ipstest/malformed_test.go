package ipstest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

func TestMalformedEntriesAreServedMalformed(t *testing.T) {
	srv := ipstest.NewServer(ipstest.WithCatalog(6, 3), ipstest.WithMalformedEntries(3),
		ipstest.WithEntryHook(func(e *ipstest.Entry) {
			if e.AssetIndex == 0 {
				e.LogMessage = strings.Repeat("m", 1000)
			}
		}))
	defer srv.Close()
	c, err := ips.New(ips.Config{URL: srv.URL(), User: "api@example.com", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	marked := 0
	for _, e := range srv.AllEntries() {
		if e.Malformed {
			marked++
		}
	}
	if marked != 2 {
		t.Fatalf("entries marked malformed: got %d, want 2 (assets 2 and 5)", marked)
	}
	for i, h := range srv.AssetHandles() {
		good, bad, err := c.AssetJobLogs(context.Background(), srv.CompanyHandle(), h)
		if err != nil {
			t.Fatalf("asset %d: %v", i, err)
		}
		wantBad := 0
		if i%3 == 2 {
			wantBad = 1
		}
		if len(bad) != wantBad || len(good) != 3-wantBad {
			t.Fatalf("asset %d: got %d good and %d bad entries, want %d bad", i, len(good), len(bad), wantBad)
		}
		if wantBad == 1 && (bad[0].Position != 0 || !strings.Contains(bad[0].Reason, ipstest.MalformedLogDate)) {
			t.Errorf("asset %d: bad entry %v", i, bad[0])
		}
		if i == 0 && len(good[0].LogMessage) != 1000 {
			t.Errorf("the entry hook's logMessage was not served: %d bytes", len(good[0].LogMessage))
		}
	}
}
