package ipstest

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Page caps of searchAssets: IPS returns at most SearchPageMax assets per
// call, or SearchPageMaxLean when responseFieldArray limits the answer to
// totalRows and the handle, name, type and subType fields.
const (
	SearchPageMax     = 1000
	SearchPageMaxLean = 10_000
)

// leanFields are the responseFieldArray entries that allow the larger page.
var leanFields = map[string]bool{
	"totalRows":                    true,
	"assetArray/items/assetHandle": true,
	"assetArray/items/type":        true,
	"assetArray/items/subType":     true,
	"assetArray/items/name":        true,
}

var assetSortKeys = []string{"Created", "Modified", "Name", "AssetType", "FileSize"}

// AddAssets creates n assets now, after every existing one in creation
// order, and returns their indexes. They have no entries until activity
// (AddActivity, StartJob, ...) writes some; searchAssets lists them from now
// on, also to a client in the middle of paging.
func (h *Handler) AddAssets(n int) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.cfg.now().UTC()
	out := make([]int, n)
	for k := range out {
		out[k] = h.cat.assets + len(h.newAssets)
		h.newAssets = append(h.newAssets, now)
	}
	return out
}

// TrashAssets moves the given assets to the trash: searchAssets lists them
// only with trashState InTrash or Any. Their logs stay readable. It panics
// if an index is outside the catalog.
func (h *Handler) TrashAssets(assetIndexes ...int) {
	h.checkAssets(assetIndexes)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.trashed == nil {
		h.trashed = make(map[int]bool)
	}
	for _, i := range assetIndexes {
		h.trashed[i] = true
	}
}

// numAssets is the number of assets: the base catalog plus AddAssets'.
func (h *Handler) numAssets() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cat.assets + len(h.newAssets)
}

// created is when asset i was created: base assets a millisecond apart
// before the first base entry, in index order; the others when AddAssets
// made them. Creation order is index order either way.
func (h *Handler) createdLocked(i int) time.Time {
	if i < h.cat.assets {
		return h.cat.t0.Add(-time.Duration(h.cat.assets-i) * time.Millisecond)
	}
	return h.newAssets[i-h.cat.assets]
}

// searchAssets lists the company's assets: filters on folder, trash state
// and asset types; sorted by Created (index order), Name or AssetType;
// paged by recordsPerPage (capped at SearchPageMax, or SearchPageMaxLean for
// a lean responseFieldArray, and at WithSearchPageCap) and resultsPage from
// 1; totalRows counts every match.
func (h *Handler) searchAssets(rs *response) {
	f := rs.req.fields
	company := f["companyHandle"]
	switch {
	case company == "":
		rs.fault(missing("companyHandle"))
		return
	case company != h.cfg.company:
		rs.fault(errCompany)
		return
	}
	trash := "NotInTrash"
	if s := f["trashState"]; s != "" {
		if s != "NotInTrash" && s != "InTrash" && s != "Any" {
			rs.fault(invalid("trashState", "want NotInTrash, InTrash or Any"))
			return
		}
		trash = s
	}
	sortBy, desc, ok := sortOrder(rs, assetSortKeys, "Created", "unknown asset sort field")
	if !ok {
		return
	}
	fields, limited := rs.req.arrays["responseFieldArray"]
	lean := limited && len(fields) > 0
	for _, fl := range fields {
		if !leanFields[fl] {
			lean = false
		}
	}
	pageMax := SearchPageMax
	if lean {
		pageMax = SearchPageMaxLean
	}
	if c := h.cfg.searchPageCap; c > 0 && c < pageMax {
		pageMax = c
	}
	perPage, page, ok := pageFields(rs, SearchPageMax, pageMax)
	if !ok {
		return
	}
	folder := strings.TrimSuffix(f["folder"], "/")
	subfolders := f["includeSubfolders"] != "false"
	types := rs.req.arrays["assetTypeArray"]

	h.mu.RLock()
	n := h.cat.assets + len(h.newAssets)
	var match []int
	for i := range n {
		if t := h.trashed[i]; (trash == "NotInTrash" && t) || (trash == "InTrash" && !t) {
			continue
		}
		if folder != "" || len(types) > 0 {
			a := h.cat.asset(i)
			if len(types) > 0 && !slices.Contains(types, a.kind) {
				continue
			}
			if folder != "" {
				dir := a.path[:strings.LastIndexByte(a.path, '/')]
				if dir != folder && !(subfolders && strings.HasPrefix(dir, folder+"/")) {
					continue
				}
			}
		}
		match = append(match, i)
	}
	var created []time.Time
	for _, i := range match {
		created = append(created, h.createdLocked(i))
	}
	trashed := make([]bool, len(match))
	for k, i := range match {
		trashed[k] = h.trashed[i]
	}
	h.mu.RUnlock()

	order := make([]int, len(match))
	for k := range order {
		order[k] = k
	}
	if sortBy == "Name" || sortBy == "AssetType" {
		slices.SortStableFunc(order, func(a, b int) int {
			ma, mb := h.cat.asset(match[a]), h.cat.asset(match[b])
			if sortBy == "Name" {
				return strings.Compare(ma.name, mb.name)
			}
			return strings.Compare(ma.kind, mb.kind)
		})
	}
	if desc {
		slices.Reverse(order)
	}
	// want reports whether the asset field is asked for: every field when
	// responseFieldArray is absent; else those it names, or their parent.
	want := func(field string) bool {
		if !limited {
			return true
		}
		for _, fl := range fields {
			if fl == "assetArray" || fl == "assetArray/items" || fl == "assetArray/items/"+field {
				return true
			}
		}
		return false
	}
	first := min((page-1)*perPage, len(order))
	last := min(first+perPage, len(order))
	rs.body("searchAssetsReturn", func(w *xw) {
		w.int("totalRows", len(match))
		w.open("assetArray")
		for _, k := range order[first:last] {
			a := h.cat.asset(match[k])
			w.open("items")
			if want("assetHandle") {
				w.text("assetHandle", a.handle)
			}
			if want("type") {
				w.text("type", a.kind)
			}
			if want("name") {
				w.text("name", a.name)
			}
			if !lean {
				dir := a.path[:strings.LastIndexByte(a.path, '/')]
				w.text("fileName", a.name)
				w.text("folder", dir+"/")
				state := "NotInTrash"
				if trashed[k] {
					state = "InTrash"
				}
				w.text("trashState", state)
				w.date("created", created[k])
				w.text("createUser", submitters[0])
				w.date("lastModified", created[k])
			}
			w.close("items")
		}
		w.close("assetArray")
	})
}

// StartCatalogGrowth creates about perSecond assets per second in the
// background (AddAssets once per tick of max(250ms, 1/perSecond)), so that
// the catalog grows while clients page through it. It returns at once; the
// growth stops when ctx is done or the Handler closes. perSecond <= 0 does
// nothing.
func (h *Handler) StartCatalogGrowth(ctx context.Context, perSecond float64) {
	if perSecond <= 0 {
		return
	}
	h.atRate(ctx, perSecond, func(due int) { h.AddAssets(due) })
}
