package ips

import (
	"bytes"
	"context"
	"fmt"
	"strconv"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// OpSearchAssets is the operation name of searchAssets.
const OpSearchAssets = "searchAssets"

// MaxSearchPageSize is the largest recordsPerPage searchAssets serves when
// the response is limited to asset handles (1000 otherwise); SearchAssets
// always limits it so.
const MaxSearchPageSize = 10_000

// Trash states of a search filter.
const (
	TrashNotInTrash = "NotInTrash"
	TrashInTrash    = "InTrash"
	TrashAny        = "Any"
)

// SearchFilter selects the assets SearchAssets lists. The zero value lists
// every asset of the company that is not in the trash.
type SearchFilter struct {
	// Folder is the root folder path, e.g. "ApiTestCo/products/"; its
	// subfolders are included. Default "": the company root.
	Folder string
	// AssetTypes keeps only these asset types (Image, Video, PDF, ...).
	// Default: every type.
	AssetTypes []string
	// TrashState is NotInTrash, InTrash or Any. Default NotInTrash.
	TrashState string
}

// Validate names the first invalid field.
func (f SearchFilter) Validate() error {
	switch f.TrashState {
	case "", TrashNotInTrash, TrashInTrash, TrashAny:
	default:
		return fmt.Errorf("search filter: trash state %q is not one of %s, %s, %s", f.TrashState, TrashNotInTrash, TrashInTrash, TrashAny)
	}
	for i, t := range f.AssetTypes {
		if t == "" {
			return fmt.Errorf("search filter: asset type %d is empty", i)
		}
	}
	return nil
}

// SearchAssets returns one page of the company's assets matching f
// (searchAssets), oldest first (sortBy Created, Ascending), and totalRows,
// the number of assets matching f at the time of the call. Page counts from
// 1; perPage is 1 to MaxSearchPageSize. The response is limited to
// totalRows and the asset handle, which allows the largest page. The server
// may send fewer handles than asked: page by the total, not by perPage.
func (c *Client) SearchAssets(ctx context.Context, companyHandle string, f SearchFilter, page, perPage int) ([]string, int, error) {
	desc := fmt.Sprintf("%s of company %q page %d", OpSearchAssets, companyHandle, page)
	if page < 1 || perPage < 1 || perPage > MaxSearchPageSize {
		return nil, 0, fmt.Errorf("%s: page must be >= 1 and perPage 1 to %d, got page %d perPage %d", desc, MaxSearchPageSize, page, perPage)
	}
	if err := f.Validate(); err != nil {
		return nil, 0, fmt.Errorf("%s: %w", desc, err)
	}
	var (
		handles []string
		total   int
	)
	err := c.call(ctx, OpSearchAssets, desc, c.searchAssetsRequest(companyHandle, f, page, perPage), func(d *decoder) error {
		var err error
		handles, total, err = d.searchAssets()
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return handles, total, nil
}

func (c *Client) searchAssetsRequest(companyHandle string, f SearchFilter, page, perPage int) []byte {
	trash := f.TrashState
	if trash == "" {
		trash = TrashNotInTrash
	}
	return c.envelope("searchAssetsParam", func(b *bytes.Buffer) {
		// Children in the XSD's order.
		element(b, "companyHandle", companyHandle)
		if f.Folder != "" {
			element(b, "folder", f.Folder)
		}
		element(b, "includeSubfolders", "true")
		element(b, "trashState", trash)
		if len(f.AssetTypes) > 0 {
			b.WriteString("<assetTypeArray>")
			for _, t := range f.AssetTypes {
				element(b, "items", t)
			}
			b.WriteString("</assetTypeArray>")
		}
		element(b, "recordsPerPage", strconv.Itoa(perPage))
		element(b, "resultsPage", strconv.Itoa(page))
		element(b, "sortBy", "Created")
		element(b, "sortDirection", "Ascending")
		b.WriteString("<responseFieldArray>")
		element(b, "items", "totalRows")
		element(b, "items", "assetArray/items/assetHandle")
		b.WriteString("</responseFieldArray>")
	})
}

// searchAssets decodes a searchAssets response: the asset handles in order
// and totalRows. An asset item without a handle is malformed: it could be
// neither polled nor reported.
func (d *decoder) searchAssets() ([]string, int, error) {
	if err := d.body("searchAssetsReturn"); err != nil {
		return nil, 0, err
	}
	s := d.s
	handles := []string{}
	total := -1
	for el, err := range s.fields(s.depth()) {
		if err != nil {
			return nil, 0, err
		}
		switch el.local {
		case "totalRows":
			total, err = d.integer("totalRows")
		case "assetArray":
			err = d.assetArray(&handles)
		default:
			err = s.skip()
		}
		if err != nil {
			return nil, 0, err
		}
	}
	if err := s.finish(); err != nil {
		return nil, 0, err
	}
	if total < 0 {
		return nil, 0, malformed("missing required element <totalRows>")
	}
	return handles, total, nil
}

// assetArray reads the items of an assetArray just started, appending each
// asset's handle.
func (d *decoder) assetArray(handles *[]string) error {
	s := d.s
	i := 0
	for _, err := range s.named(s.depth(), "items") {
		if err != nil {
			return err
		}
		handle := ""
		for _, err := range s.named(s.depth(), "assetHandle") {
			if err != nil {
				return err
			}
			if handle, err = d.text(); err != nil {
				return err
			}
		}
		if handle == "" {
			return malformed("assetArray.items[%d]: missing or empty <assetHandle>", i)
		}
		*handles = append(*handles, handle)
		i++
	}
	return nil
}

// Catalog lists a company's assets through SearchAssets with a fixed
// filter; it is the pipeline's CatalogSource.
type Catalog struct {
	Client *Client
	Filter SearchFilter
}

var _ pipeline.CatalogSource = (*Catalog)(nil)

// CatalogPage returns one page of the catalog, oldest asset first.
func (c *Catalog) CatalogPage(ctx context.Context, companyHandle string, page, perPage int) (pipeline.CatalogPage, error) {
	handles, total, err := c.Client.SearchAssets(ctx, companyHandle, c.Filter, page, min(perPage, MaxSearchPageSize))
	if err != nil {
		return pipeline.CatalogPage{}, err
	}
	return pipeline.CatalogPage{Handles: handles, TotalRows: total}, nil
}
