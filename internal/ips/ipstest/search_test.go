package ipstest_test

import (
	"context"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

func TestCatalogGrowsInTheBackground(t *testing.T) {
	h, err := ipstest.NewHandler(ipstest.WithCatalog(10, 1))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	h.StartCatalogGrowth(ctx, 40)
	deadline := time.Now().Add(10 * time.Second)
	for len(h.AssetHandles()) < 15 {
		if time.Now().After(deadline) {
			t.Fatalf("catalog still at %d assets, want it to grow", len(h.AssetHandles()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	h.Close()
	n := len(h.AssetHandles())
	time.Sleep(300 * time.Millisecond)
	if got := len(h.AssetHandles()); got != n {
		t.Errorf("catalog grew from %d to %d after the growth stopped", n, got)
	}
	if got, want := h.AssetHandles()[10], h.AssetHandle(10); got != want || len(h.Entries(10)) != 0 {
		t.Errorf("new asset: handle %q (want %q), %d entries (want none)", got, want, len(h.Entries(10)))
	}
}
