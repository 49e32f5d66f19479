package ips_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// hookedCatalog calls before ahead of each page call, with the page number.
type hookedCatalog struct {
	pipeline.CatalogSource
	before func(page int)
}

func (h hookedCatalog) CatalogPage(ctx context.Context, company string, page, perPage int) (pipeline.CatalogPage, error) {
	if h.before != nil {
		h.before(page)
	}
	return h.CatalogSource.CatalogPage(ctx, company, page, perPage)
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// checkListedOnce fails unless got holds every handle of want exactly once.
func checkListedOnce(t *testing.T, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, h := range got {
		count[h]++
	}
	missing, twice := 0, 0
	for _, h := range want {
		switch count[h] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(got) != len(want) {
		t.Errorf("listed %d handles for %d assets: %d missing, %d listed more than once", len(got), len(want), missing, twice)
	}
}

func newCatalogClient(t *testing.T, sim *ipstest.Server) *ips.Catalog {
	t.Helper()
	c, err := ips.New(ips.Config{URL: sim.URL(), User: "api@example.com", Password: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	return &ips.Catalog{Client: c}
}

// TestCatalogListsEveryAssetOnce pages a 25,000-asset catalog in the three
// ways IPS may serve it.
func TestCatalogListsEveryAssetOnce(t *testing.T) {
	const n = 25_000
	ctx := context.Background()

	t.Run("lean pages of 10,000", func(t *testing.T) {
		sim := ipstest.NewServer(ipstest.WithCatalog(n, 0))
		defer sim.Close()
		l := pipeline.CatalogLister{Source: newCatalogClient(t, sim)}
		got, st, err := l.List(ctx, sim.CompanyHandle())
		if err != nil {
			t.Fatal(err)
		}
		checkListedOnce(t, got, sim.AssetHandles())
		if calls := sim.Calls(ipstest.OpSearchAssets); calls != 3 || st.Calls != 3 {
			t.Errorf("searchAssets calls: server %d, lister %d; want 3", calls, st.Calls)
		}
		if got[0] != sim.AssetHandle(0) || got[n-1] != sim.AssetHandle(n-1) {
			t.Errorf("not in creation order: first %q, last %q", got[0], got[n-1])
		}
	})

	t.Run("a server that caps every page at 1000", func(t *testing.T) {
		sim := ipstest.NewServer(ipstest.WithCatalog(n, 0), ipstest.WithSearchPageCap(1000))
		defer sim.Close()
		var logs logBuffer
		l := pipeline.CatalogLister{Source: newCatalogClient(t, sim), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		got, st, err := l.List(ctx, sim.CompanyHandle())
		if err != nil {
			t.Fatal(err)
		}
		checkListedOnce(t, got, sim.AssetHandles())
		if st.Calls != 25 {
			t.Errorf("searchAssets calls: %d, want 25 pages of 1000", st.Calls)
		}
		if !strings.Contains(logs.String(), "shorter than asked") {
			t.Errorf("no log line about the short page:\n%s", logs.String())
		}
	})

	t.Run("assets added while paging", func(t *testing.T) {
		sim := ipstest.NewServer(ipstest.WithCatalog(n, 0))
		defer sim.Close()
		var logs logBuffer
		src := hookedCatalog{CatalogSource: newCatalogClient(t, sim), before: func(page int) {
			if page <= 3 {
				sim.AddAssets(4_000) // the last page's totalRows says the catalog grew
			}
		}}
		l := pipeline.CatalogLister{Source: src, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		got, _, err := l.List(ctx, sim.CompanyHandle())
		if err != nil {
			t.Fatal(err)
		}
		checkListedOnce(t, got, sim.AssetHandles())
		if len(got) != n+12_000 {
			t.Errorf("listed %d, want %d", len(got), n+12_000)
		}
		if !strings.Contains(logs.String(), "the catalog changed while it was listed") {
			t.Errorf("no log line about the growing catalog:\n%s", logs.String())
		}
	})

	t.Run("assets trashed while paging", func(t *testing.T) {
		sim := ipstest.NewServer(ipstest.WithCatalog(n, 0), ipstest.WithSearchPageCap(1000))
		defer sim.Close()
		src := hookedCatalog{CatalogSource: newCatalogClient(t, sim), before: func(page int) {
			if page == 5 {
				sim.TrashAssets(10, 20, 30) // every later row moves up by three
			}
		}}
		l := pipeline.CatalogLister{Source: src}
		got, st, err := l.List(ctx, sim.CompanyHandle())
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for i, h := range sim.AssetHandles() {
			if i != 10 && i != 20 && i != 30 {
				want = append(want, h)
			}
		}
		// The three trashed assets were listed before they were trashed.
		checkListedOnce(t, got, append(want, sim.AssetHandle(10), sim.AssetHandle(20), sim.AssetHandle(30)))
		if st.Passes != 2 {
			t.Errorf("passes: %d, want a second pass after the catalog shrank", st.Passes)
		}
	})
}

func TestCatalogBadInput(t *testing.T) {
	ctx := context.Background()
	t.Run("an empty catalog is logged and lists nothing", func(t *testing.T) {
		sim := ipstest.NewServer(ipstest.WithCatalog(0, 0))
		defer sim.Close()
		var logs logBuffer
		l := pipeline.CatalogLister{Source: newCatalogClient(t, sim), Logger: slog.New(slog.NewTextHandler(&logs, nil))}
		got, _, err := l.List(ctx, sim.CompanyHandle())
		if err != nil || len(got) != 0 {
			t.Fatalf("got %q, %v; want no asset and no error", got, err)
		}
		if !strings.Contains(logs.String(), "the catalog is empty") {
			t.Errorf("no log line about the empty catalog:\n%s", logs.String())
		}
	})
	t.Run("an authorization fault stops the listing, typed", func(t *testing.T) {
		sim := ipstest.NewServer(ipstest.WithCatalog(10, 0))
		defer sim.Close()
		sim.Inject(ipstest.Fault{Op: ipstest.OpSearchAssets, Kind: ipstest.FaultSOAP, Detail: ipstest.AuthorizationFault, Code: 20003, Reason: "No permission for operation"})
		l := pipeline.CatalogLister{Source: newCatalogClient(t, sim), Retry: pipeline.RetryPolicy{Retryable: ips.IsRetryable}}
		_, _, err := l.List(ctx, sim.CompanyHandle())
		var f *ips.Fault
		if !errors.As(err, &f) || f.Kind != ips.FaultAuthorization || f.Code != 20003 {
			t.Fatalf("got %v, want the authorization fault", err)
		}
		if want := `list the assets of company "c|6": page 1 of 10000 assets: searchAssets`; !strings.HasPrefix(err.Error(), want) {
			t.Errorf("error %q does not start with %q", err, want)
		}
		if sim.Calls(ipstest.OpSearchAssets) != 1 {
			t.Errorf("searchAssets calls: %d, want 1 (no retry)", sim.Calls(ipstest.OpSearchAssets))
		}
	})
	t.Run("a transient failure is retried and loses nothing", func(t *testing.T) {
		sim := ipstest.NewServer(ipstest.WithCatalog(2500, 0), ipstest.WithSearchPageCap(1000))
		defer sim.Close()
		sim.Inject(ipstest.Fault{Op: ipstest.OpSearchAssets, Kind: ipstest.FaultUnavailable, Times: 2})
		l := pipeline.CatalogLister{Source: newCatalogClient(t, sim), Retry: pipeline.RetryPolicy{Retryable: ips.IsRetryable, InitialInterval: 1}}
		got, _, err := l.List(ctx, sim.CompanyHandle())
		if err != nil {
			t.Fatal(err)
		}
		checkListedOnce(t, got, sim.AssetHandles())
	})
}
