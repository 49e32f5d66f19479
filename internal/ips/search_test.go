package ips_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

const searchReturn = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
	`<ns1:searchAssetsReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03">%s</ns1:searchAssetsReturn></soapenv:Body></soapenv:Envelope>`

func searchBody(inner string) []byte { return []byte(strings.Replace(searchReturn, "%s", inner, 1)) }

func TestSearchAssetsRequestMatchesGoldenFile(t *testing.T) {
	var cap capture
	c := newClient(t, cap.handler(func(_ int, w http.ResponseWriter, _ []byte) {
		w.Write(searchBody(`<ns1:totalRows>0</ns1:totalRows>`))
	}))
	f := ips.SearchFilter{Folder: "ApiTestCo/<products>/", AssetTypes: []string{"Image", "Video"}, TrashState: ips.TrashAny}
	if _, _, err := c.SearchAssets(context.Background(), testCompany, f, 3, 10_000); err != nil {
		t.Fatalf("SearchAssets: %v", err)
	}
	if _, _, err := c.SearchAssets(context.Background(), testCompany, ips.SearchFilter{}, 1, 10_000); err != nil {
		t.Fatalf("SearchAssets: %v", err)
	}
	checkGolden(t, "request_searchAssets.golden", cap.reqs[0].body)
	checkGolden(t, "request_searchAssets_default.golden", cap.reqs[1].body)
	if got := cap.reqs[0].header.Get("SOAPAction"); got != "searchAssets" {
		t.Errorf("SOAPAction = %q, want searchAssets", got)
	}
}

func TestSearchAssetsDecodes(t *testing.T) {
	t.Run("handles in order and totalRows, other fields ignored", func(t *testing.T) {
		c := newClient(t, serve(200, searchBody(`<ns1:totalRows>210</ns1:totalRows><ns1:assetArray>`+
			`<ns1:items><ns1:assetHandle>24265|1|17061</ns1:assetHandle><ns1:type>Image</ns1:type><ns1:name>Autumn &amp; Leaves</ns1:name></ns1:items>`+
			`<ns1:items><ns1:type>Image</ns1:type><ns1:assetHandle>a|6|1|2</ns1:assetHandle><ns1:imageInfo><ns1:width>3</ns1:width></ns1:imageInfo></ns1:items>`+
			`</ns1:assetArray>`)))
		handles, total, err := c.SearchAssets(context.Background(), testCompany, ips.SearchFilter{}, 1, 2)
		if err != nil {
			t.Fatal(err)
		}
		if total != 210 || strings.Join(handles, ",") != "24265|1|17061,a|6|1|2" {
			t.Errorf("got %q total %d, want the two handles and 210", handles, total)
		}
	})
	t.Run("an empty catalog is an empty page", func(t *testing.T) {
		c := newClient(t, serve(200, searchBody(`<ns1:totalRows>0</ns1:totalRows><ns1:assetArray/>`)))
		handles, total, err := c.SearchAssets(context.Background(), testCompany, ips.SearchFilter{}, 1, 10)
		if err != nil || total != 0 || handles == nil || len(handles) != 0 {
			t.Errorf("got %q, %d, %v; want an empty non-nil page of total 0", handles, total, err)
		}
	})
	for name, tc := range map[string]struct{ body, want string }{
		"missing totalRows":      {`<ns1:assetArray/>`, "missing required element <totalRows>"},
		"item without a handle":  {`<ns1:totalRows>2</ns1:totalRows><ns1:assetArray><ns1:items><ns1:assetHandle>a</ns1:assetHandle></ns1:items><ns1:items><ns1:name>x</ns1:name></ns1:items></ns1:assetArray>`, "assetArray.items[1]: missing or empty <assetHandle>"},
		"totalRows not a number": {`<ns1:totalRows>many</ns1:totalRows>`, "totalRows: not an integer"},
	} {
		t.Run(name+" is malformed", func(t *testing.T) {
			c := newClient(t, serve(200, searchBody(tc.body)))
			_, _, err := c.SearchAssets(context.Background(), testCompany, ips.SearchFilter{}, 1, 10)
			if !errors.Is(err, ips.ErrMalformedResponse) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want ErrMalformedResponse saying %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), `searchAssets of company "c|6" page 1: `) {
				t.Errorf("error %q does not name the call", err)
			}
		})
	}
	t.Run("an authorization fault is typed", func(t *testing.T) {
		c := newClient(t, serve(500, readFixture(t, "fault_authorization.xml")))
		_, _, err := c.SearchAssets(context.Background(), testCompany, ips.SearchFilter{}, 1, 10)
		var f *ips.Fault
		if !errors.As(err, &f) || f.Kind != ips.FaultAuthorization || ips.IsRetryable(err) {
			t.Errorf("got %v, want a non-retryable authorization *ips.Fault", err)
		}
	})
	t.Run("bad arguments are refused before any call", func(t *testing.T) {
		c := newClient(t, func(w http.ResponseWriter, _ *http.Request) { t.Error("unexpected call") })
		for _, tc := range []struct {
			f       ips.SearchFilter
			page, n int
		}{{ips.SearchFilter{}, 0, 10}, {ips.SearchFilter{}, 1, 10_001}, {ips.SearchFilter{TrashState: "Bin"}, 1, 10}} {
			if _, _, err := c.SearchAssets(context.Background(), testCompany, tc.f, tc.page, tc.n); err == nil {
				t.Errorf("%+v page %d perPage %d: no error", tc.f, tc.page, tc.n)
			}
		}
	})
}

func TestSearchAssetsAgainstSimulator(t *testing.T) {
	for _, prefix := range []ipstest.Prefix{ipstest.PrefixDefault, ipstest.PrefixNS1, ipstest.PrefixTNS} {
		t.Run(prefix.String(), func(t *testing.T) {
			sim := ipstest.NewServer(ipstest.WithCatalog(250, 1), ipstest.WithPrefix(prefix))
			defer sim.Close()
			c, err := ips.New(ips.Config{URL: sim.URL(), User: "api@example.com", Password: "secret"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			handles, total, err := c.SearchAssets(ctx, sim.CompanyHandle(), ips.SearchFilter{}, 2, 100)
			if err != nil {
				t.Fatal(err)
			}
			if total != 250 || len(handles) != 100 || handles[0] != sim.AssetHandle(100) || handles[99] != sim.AssetHandle(199) {
				t.Errorf("page 2 of 100: got %d handles %q..., total %d; want assets 100-199 of 250", len(handles), handles[:min(1, len(handles))], total)
			}
			sim.TrashAssets(0, 1)
			handles, total, err = c.SearchAssets(ctx, sim.CompanyHandle(), ips.SearchFilter{TrashState: ips.TrashInTrash}, 1, 100)
			if err != nil || total != 2 || strings.Join(handles, ",") != sim.AssetHandle(0)+","+sim.AssetHandle(1) {
				t.Errorf("in trash: got %q total %d (%v), want assets 0 and 1", handles, total, err)
			}
			_, total, err = c.SearchAssets(ctx, sim.CompanyHandle(), ips.SearchFilter{Folder: "ApiTestCo/folder-1/"}, 1, 100)
			if err != nil || total != 100 {
				t.Errorf("folder-1: total %d (%v), want its 100 assets", total, err)
			}
			handles, total, err = c.SearchAssets(ctx, sim.CompanyHandle(), ips.SearchFilter{AssetTypes: []string{"Video"}}, 1, 1000)
			if err != nil || total == 0 || total >= 248 || len(handles) != total {
				t.Errorf("videos: %d handles, total %d (%v), want a strict subset of the catalog", len(handles), total, err)
			}
			_, _, err = c.SearchAssets(ctx, "c|7", ips.SearchFilter{}, 1, 10)
			var f *ips.Fault
			if !errors.As(err, &f) || f.Kind != ips.FaultAuthorization {
				t.Errorf("unknown company: got %v, want an authorization fault", err)
			}
		})
	}
}
