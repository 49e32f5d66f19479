package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// pagedCatalog serves handles in pages; pages lists what each call returns
// (by call order) when set, else the handles are cut into pages of perPage.
type pagedCatalog struct {
	mu      sync.Mutex
	handles []string
	calls   int
	pages   []pipeline.CatalogPage
}

func (c *pagedCatalog) CatalogPage(_ context.Context, _ string, page, perPage int) (pipeline.CatalogPage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.pages != nil {
		if c.calls > len(c.pages) {
			return pipeline.CatalogPage{}, errors.New("no more pages scripted")
		}
		return c.pages[c.calls-1], nil
	}
	lo := min((page-1)*perPage, len(c.handles))
	hi := min(lo+perPage, len(c.handles))
	return pipeline.CatalogPage{Handles: slices.Clone(c.handles[lo:hi]), TotalRows: len(c.handles)}, nil
}

func handles(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "a|6|1|" + strconv.Itoa(i)
	}
	return out
}

func TestCatalogListerBadPages(t *testing.T) {
	ctx := context.Background()
	t.Run("a handle repeated across pages is listed once", func(t *testing.T) {
		src := &pagedCatalog{pages: []pipeline.CatalogPage{
			{Handles: []string{"a", "b"}, TotalRows: 4},
			{Handles: []string{"b", "c"}, TotalRows: 4},
			{Handles: []string{"d"}, TotalRows: 4},
		}}
		got, st, err := (&pipeline.CatalogLister{Source: src, PageSize: 2}).List(ctx, "c|6")
		if err != nil || !slices.Equal(got, []string{"a", "b", "c", "d"}) || st.Duplicates != 1 {
			t.Errorf("got %q, %+v, %v; want a b c d with one duplicate", got, st, err)
		}
	})
	t.Run("a short page that does not divide the rows read makes a second pass", func(t *testing.T) {
		src := &pagedCatalog{handles: handles(10)}
		capped := &cappedCatalog{src: src, caps: []int{4, 3}} // the second page comes back short
		got, st, err := (&pipeline.CatalogLister{Source: capped, PageSize: 4}).List(ctx, "c|6")
		if err != nil || !slices.Equal(got, handles(10)) {
			t.Errorf("got %q (%v), want every handle once in order", got, err)
		}
		if st.Passes != 2 {
			t.Errorf("passes: %d, want 2", st.Passes)
		}
	})
	t.Run("a catalog that keeps shrinking fails the listing", func(t *testing.T) {
		var pages []pipeline.CatalogPage
		for i := 0; i < 20; i++ {
			pages = append(pages, pipeline.CatalogPage{Handles: []string{"x" + strconv.Itoa(i)}, TotalRows: 100 - i})
		}
		_, _, err := (&pipeline.CatalogLister{Source: &pagedCatalog{pages: pages}, PageSize: 1}).List(ctx, "c|6")
		if err == nil {
			t.Fatal("no error")
		}
	})
}

// cappedCatalog cuts the page of call k to caps[k] handles, counting pages
// in the size asked.
type cappedCatalog struct {
	src   *pagedCatalog
	caps  []int
	calls int
}

func (c *cappedCatalog) CatalogPage(ctx context.Context, company string, page, perPage int) (pipeline.CatalogPage, error) {
	pg, err := c.src.CatalogPage(ctx, company, page, perPage)
	if c.calls < len(c.caps) && len(pg.Handles) > c.caps[c.calls] {
		pg.Handles = pg.Handles[:c.caps[c.calls]]
	}
	c.calls++
	return pg, err
}

// countingSource answers one entry per asset, and polled says how often
// an asset was asked for.
func countingSource() (src pipelinetest.SourceFunc, polled func(asset string) int) {
	var mu sync.Mutex
	n := map[string]int{}
	src = func(_ context.Context, _, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
		mu.Lock()
		defer mu.Unlock()
		n[asset]++
		return []pipeline.AssetJobLog{pipelinetest.Entry(asset, t0, "x")}, nil, nil
	}
	return src, func(asset string) int {
		mu.Lock()
		defer mu.Unlock()
		return n[asset]
	}
}

func TestAllAssetsRound(t *testing.T) {
	ctx := context.Background()
	cat := &pagedCatalog{handles: handles(50)}
	src, polled := countingSource()
	clock := t0
	sink := &pipelinetest.Sink{}
	total := -1
	p, err := pipeline.NewPoller(pipeline.Config{
		CompanyHandle: "c|6", AllAssets: true, Catalog: cat, CatalogPageSize: 20, CatalogRefresh: time.Hour,
		Owns:   func(a string) bool { n, _ := strconv.Atoi(a[len("a|6|1|"):]); return n%2 == 0 },
		Source: src, Encoder: pipelinetest.JSONEncoder{}, Sink: sink, Checkpoints: pipelinetest.NewCheckpoints(),
		Now: func() time.Time { return clock }, OnTotal: func(n int) { total = n },
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := p.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Assets != 25 || len(sink.Records()) != 25 || total != 25 || st.CatalogCalls != 3 {
		t.Errorf("first round: %d assets, %d records, total %d, %d searchAssets calls; want 25 owned assets and 3 pages", st.Assets, len(sink.Records()), total, st.CatalogCalls)
	}
	if polled("a|6|1|1") != 0 {
		t.Error("an asset not owned was polled")
	}
	cat.handles = handles(52)
	clock = clock.Add(30 * time.Minute)
	if st, _ = p.RunOnce(ctx); st.CatalogCalls != 0 || st.Assets != 25 {
		t.Errorf("within -catalog-refresh: %d searchAssets calls, %d assets; want the listing reused", st.CatalogCalls, st.Assets)
	}
	clock = clock.Add(31 * time.Minute)
	if st, _ = p.RunOnce(ctx); st.CatalogCalls == 0 || st.Assets != 26 || len(sink.Records()) != 26 {
		t.Errorf("after -catalog-refresh: %d searchAssets calls, %d assets, %d records; want a new listing with the new asset", st.CatalogCalls, st.Assets, len(sink.Records()))
	}
}
