package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
)

// CatalogSource lists a company's assets one page at a time, in creation
// order, oldest first (searchAssets sorted by Created ascending). Pages
// count from 1; perPage is the size asked, which a server may lower.
// TotalRows is the number of assets the listing holds at the time of the
// call. Implementations do not retry.
type CatalogSource interface {
	CatalogPage(ctx context.Context, companyHandle string, page, perPage int) (CatalogPage, error)
}

// CatalogPage is one page of a catalog listing.
type CatalogPage struct {
	Handles   []string
	TotalRows int
}

// DefaultCatalogPageSize is the page size a catalog listing asks for: the
// largest IPS serves when the answer is limited to the asset handle.
const DefaultCatalogPageSize = 10_000

// maxCatalogPasses bounds how often a listing starts over because the
// catalog shrank under it.
const maxCatalogPasses = 3

// CatalogStats counts what one catalog listing did.
type CatalogStats struct {
	Calls      int // CatalogPage calls, retries included
	Pages      int // pages received
	Duplicates int // handles received more than once
	Passes     int // passes over the catalog (more than 1 when it shrank while paged)
}

// CatalogLister pages through a company's catalog. Zero values take the
// documented defaults.
type CatalogLister struct {
	Source CatalogSource // Required.
	// PageSize is the page size asked for. Default DefaultCatalogPageSize.
	PageSize int
	// Retry governs each page's call. Default: the zero RetryPolicy, which
	// retries nothing.
	Retry RetryPolicy
	// Wait, when set, is called before each call (a request-rate limit).
	Wait func(ctx context.Context) error
	// Logger receives the anomalies met while paging. Default: discard.
	Logger *slog.Logger
}

// List returns every asset handle of the company's catalog exactly once,
// in creation order.
//
// It asks for the largest page and relies on totalRows, not on the size it
// asked: a server may send fewer. After a page shorter than asked that is
// not the last, it asks for pages of the size it got, so that its page
// numbers mean the same rows whichever size the server counts pages in.
// Handles are de-duplicated across pages: an asset created while paging
// (there is no handle sort; Created ascending puts new assets at the end)
// is listed once. Each page reports totalRows again, so the last one tells
// whether the catalog grew, and paging goes on until every row it reports
// was read. When totalRows drops between pages, an asset was deleted or
// trashed before the current position and every later row moved up by one:
// a row may have been skipped at a page boundary, so the listing makes
// another pass from page 1 (bounded by maxCatalogPasses).
func (l *CatalogLister) List(ctx context.Context, company string) ([]string, CatalogStats, error) {
	var st CatalogStats
	if l.Source == nil {
		return nil, st, errors.New("pipeline: CatalogLister.Source is required")
	}
	logger := l.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	seen := map[string]struct{}{}
	out := []string{}
	perPage := l.PageSize
	if perPage <= 0 {
		perPage = DefaultCatalogPageSize
	}
	for pass := 1; ; pass++ {
		st.Passes = pass
		shrank := false
		total := -1
		read := 0      // rows received in this pass, in the server's order
		inPass := seen // distinct handles received in this pass
		if pass > 1 {
			inPass = map[string]struct{}{}
		}
		for page := 1; ; page++ {
			var pg CatalogPage
			err := l.Retry.Do(ctx, func(ctx context.Context) error {
				if l.Wait != nil {
					if err := l.Wait(ctx); err != nil {
						return err
					}
				}
				st.Calls++
				var err error
				pg, err = l.Source.CatalogPage(ctx, company, page, perPage)
				return err
			})
			if err != nil {
				return nil, st, fmt.Errorf("list the assets of company %q: page %d of %d assets: %w", company, page, perPage, err)
			}
			st.Pages++
			if total >= 0 && pg.TotalRows != total {
				logger.Warn("the catalog changed while it was listed", "company", company, "page", page,
					"total_rows_before", total, "total_rows_now", pg.TotalRows)
				if pg.TotalRows < total {
					shrank = true
				}
			}
			total = pg.TotalRows
			dups := 0
			for _, h := range pg.Handles {
				if h == "" {
					continue
				}
				if _, ok := seen[h]; ok {
					if _, again := inPass[h]; again || pass == 1 {
						dups++
					}
				} else {
					seen[h] = struct{}{}
					out = append(out, h)
				}
				inPass[h] = struct{}{}
			}
			if dups > 0 {
				st.Duplicates += dups
				logger.Warn("asset handles repeated across catalog pages; each is listed once", "company", company,
					"page", page, "repeated", dups)
			}
			read += len(pg.Handles)
			// Done when this pass has received as many distinct assets as
			// the catalog holds now: a repeated handle means a row moved,
			// so rows received alone would overstate the progress.
			if len(pg.Handles) == 0 || len(inPass) >= total {
				break
			}
			if len(pg.Handles) < perPage {
				logger.Info("the catalog page is shorter than asked; asking for pages of that size", "company", company,
					"page", page, "asked", perPage, "got", len(pg.Handles), "total_rows", total)
				if read%len(pg.Handles) != 0 {
					// Pages of the new size would not line up with what was
					// read: start over with them (handles already listed are
					// skipped).
					perPage = len(pg.Handles)
					shrank = true
					break
				}
				perPage = len(pg.Handles)
				page = read / perPage // the loop's page++ then asks for the page after the rows read
			}
		}
		if pass == 1 && total == 0 {
			logger.Warn("the catalog is empty: searchAssets lists no asset", "company", company)
		}
		if !shrank {
			return out, st, nil
		}
		if pass >= maxCatalogPasses {
			return nil, st, fmt.Errorf("list the assets of company %q: %w", company, errCatalogUnstable)
		}
		logger.Warn("listing the catalog again from the start, so that no asset is skipped", "company", company, "pass", pass+1)
	}
}

var errCatalogUnstable = errors.New("the catalog kept shrinking while it was listed; no complete listing was obtained (retried next round)")

// listCatalog lists the company's catalog under the source retry policy and
// keeps the assets this producer owns.
func (p *Poller) listCatalog(ctx context.Context, stats *RoundStats) ([]string, error) {
	l := CatalogLister{Source: p.cfg.Catalog, PageSize: p.cfg.CatalogPageSize, Retry: p.retrySource(), Wait: p.wait, Logger: p.cfg.Logger}
	all, st, err := l.List(ctx, p.cfg.CompanyHandle)
	stats.CatalogCalls += st.Calls
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		return nil, p.incomplete(err)
	}
	p.cfg.Metrics.catalogListed(len(all))
	owned := all[:0:0]
	for _, a := range all {
		if p.cfg.Owns(a) {
			owned = append(owned, a)
		}
	}
	p.cfg.Logger.Info("catalog listed", "company", p.cfg.CompanyHandle, "assets", len(all), "owned", len(owned),
		"search_calls", st.Calls, "pages", st.Pages)
	return owned, nil
}

// allAssetsRound polls every owned asset of the catalog, listing it again
// when the last listing is older than CatalogRefresh. A listing that fails
// transiently leaves the previous one in use, if there is one.
func (p *Poller) allAssetsRound(ctx context.Context) (RoundStats, error) {
	var stats RoundStats
	now := p.cfg.Now()
	if p.catalog == nil || now.Sub(p.catalogAt) >= p.cfg.CatalogRefresh {
		assets, err := p.listCatalog(ctx, &stats)
		switch {
		case err == nil:
			p.catalog, p.catalogAt = assets, now
		case errors.Is(err, ErrIncomplete) && p.catalog != nil:
			p.cfg.Logger.Warn("catalog listing failed; polling the previous listing", "assets", len(p.catalog), "err", err)
		default:
			return stats, err
		}
	}
	p.addTotal(len(p.catalog))
	st, err := p.assetsRound(ctx, p.catalog)
	st.CatalogCalls = stats.CatalogCalls
	return st, err
}
