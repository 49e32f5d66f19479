package ipstest_test

import (
	"bytes"
	"compress/gzip"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// referenceFault is REFERENCE.md's fault answer without its indentation.
const referenceFault = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
	`<soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>AuthenticationException</faultstring>` +
	`<detail><ns1:authenticationFault xmlns:ns1="http://www.scene7.com/IpsApi/xsd">` +
	`<code xmlns="http://www.scene7.com/IpsApi/xsd">10001</code>` +
	`<reason xmlns="http://www.scene7.com/IpsApi/xsd">Invalid username/password</reason>` +
	`</ns1:authenticationFault></detail></soapenv:Fault>` +
	`</soapenv:Body></soapenv:Envelope>`

func referenceServer(t *testing.T, opts ...ipstest.Option) *ipstest.Server {
	t.Helper()
	clock := &fixedClock{epoch}
	s := ipstest.NewServer(append([]ipstest.Option{
		ipstest.WithAssetHandlePrefix("a|732|1|"),
		ipstest.WithCatalog(600, 6),
		ipstest.WithClock(clock.Now),
	}, opts...)...)
	t.Cleanup(s.Close)
	return s
}

func TestReferenceExchange(t *testing.T) {
	s := referenceServer(t)
	if !strings.HasSuffix(s.URL(), "/scene7/services/IpsApiService") {
		t.Fatalf("URL %q lacks the endpoint path", s.URL())
	}

	t.Run("right password gets the asset's whole log", func(t *testing.T) {
		r := post(t, s.URL(), "getAssetJobLogs", ipstest.ReferenceRequest(passwd))
		if r.status != 200 {
			t.Fatalf("status %d, want 200\n%s", r.status, r.body)
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/xml") {
			t.Errorf("Content-Type %q, want text/xml", ct)
		}
		got := flatItems(t, r.body, v2014)
		want := flatAll(s.Entries(535))
		if len(want) != 6 {
			t.Fatalf("Entries(535) has %d entries, want 6", len(want))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("items differ\ngot  %+v\nwant %+v", got, want)
		}
		if h := s.Entries(535)[0].AssetHandle; h != "a|732|1|535" {
			t.Errorf("asset handle %q, want a|732|1|535", h)
		}
	})

	t.Run("wrong password gets 500 and authenticationFault 10001", func(t *testing.T) {
		r := post(t, s.URL(), "getAssetJobLogs", ipstest.ReferenceRequest("wrong"))
		if r.status != 500 {
			t.Fatalf("status %d, want 500", r.status)
		}
		f := faultOf(t, r.body)
		want := fault{"soapenv:Client", "AuthenticationException", "authenticationFault", 10001, "Invalid username/password"}
		if f != want {
			t.Errorf("got %+v, want %+v", f, want)
		}
		if string(r.body) != referenceFault {
			t.Errorf("fault bytes differ from REFERENCE.md\ngot  %s\nwant %s", r.body, referenceFault)
		}
		if bytes.Contains(r.body, []byte("wrong")) {
			t.Errorf("fault echoes the password")
		}
	})
}

func TestRequestChecks(t *testing.T) {
	s := referenceServer(t)
	auth := authXML("api@example.com", passwd)
	params := el("companyHandle", "c|6") + el("assetHandle", "a|732|1|7")
	tests := []struct {
		name    string
		body    string
		extra   []string
		status  int
		detail  string
		code    int
		noFault bool
	}{
		{name: "no credentials gives 10000", body: envelope("", "getAssetJobLogs", v2014, params),
			status: 500, detail: "authenticationFault", code: 10000},
		{name: "wrong user gives 10001", body: envelope(authXML("x@example.com", passwd), "getAssetJobLogs", v2014, params),
			status: 500, detail: "authenticationFault", code: 10001},
		{name: "HTTP Basic is accepted", body: envelope("", "getAssetJobLogs", v2014, params),
			extra: []string{"Authorization", "Basic YXBpQGV4YW1wbGUuY29tOnNlY3JldA=="}, status: 200, noFault: true},
		{name: "authHeader in the versioned namespace is accepted",
			body: envelope(strings.Replace(auth, ipsNS, v2014, 1), "getAssetJobLogs", v2014, params), status: 200, noFault: true},
		{name: "unqualified credentials count as none",
			body:   envelope(`<authHeader xmlns="`+ipsNS+`"><user xmlns="">api@example.com</user><password xmlns="">secret</password></authHeader>`, "getAssetJobLogs", v2014, params),
			status: 500, detail: "authenticationFault", code: 10000},
		{name: "unknown company gives 20000", body: envelope(auth, "getAssetJobLogs", v2014, el("companyHandle", "c|7")+el("assetHandle", "a|732|1|7")),
			status: 500, detail: "authorizationFault", code: 20000},
		{name: "missing assetHandle gives 30002", body: envelope(auth, "getAssetJobLogs", v2014, el("companyHandle", "c|6")),
			status: 500, detail: "ipsApiFault", code: 30002},
		{name: "missing companyHandle gives 30002", body: envelope(auth, "getAssetJobLogs", v2014, el("assetHandle", "a|732|1|7")),
			status: 500, detail: "ipsApiFault", code: 30002},
		{name: "unqualified parameters are missing", body: envelope(auth, "getAssetJobLogs", v2014,
			`<companyHandle xmlns="">c|6</companyHandle><assetHandle xmlns="">a|732|1|7</assetHandle>`),
			status: 500, detail: "ipsApiFault", code: 30002},
		{name: "unknown asset gives 30001", body: envelope(auth, "getAssetJobLogs", v2014, el("companyHandle", "c|6")+el("assetHandle", "a|732|1|600")),
			status: 500, detail: "ipsApiFault", code: 30001},
		{name: "malformed XML gives 30003", body: strings.TrimSuffix(envelope(auth, "getAssetJobLogs", v2014, params), "</soapenv:Envelope>"),
			status: 500, detail: "ipsApiFault", code: 30003},
		{name: "faultHttpStatusCode is honoured",
			body:   envelope(strings.Replace(authXML("api@example.com", "bad"), "</authHeader>", "<faultHttpStatusCode>200</faultHttpStatusCode></authHeader>", 1), "getAssetJobLogs", v2014, params),
			status: 200, detail: "authenticationFault", code: 10001},
		{name: "unknown operation gives a plain fault", body: envelope(auth, "deleteAsset", v2014, params), status: 500},
		{name: "unversioned body namespace gives a plain fault", body: envelope(auth, "getAssetJobLogs", ipsNS, params), status: 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, s.URL(), "", tt.body, tt.extra...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d\n%s", r.status, tt.status, r.body)
			}
			if tt.noFault {
				flatItems(t, r.body, v2014)
				return
			}
			f := faultOf(t, r.body)
			if f.detail != tt.detail || f.code != tt.code {
				t.Errorf("got %s %d (%q), want %s %d", f.detail, f.code, f.reason, tt.detail, tt.code)
			}
		})
	}
}

func TestAnswersInTheRequestsVersion(t *testing.T) {
	s := referenceServer(t)
	for _, v := range []string{"2008-01-15", "2014-04-03", "2022-11-01-beta"} {
		ns := ipsNS + "/" + v
		body := envelope(authXML("api@example.com", passwd), "getAssetJobLogs", ns, el("companyHandle", "c|6")+el("assetHandle", "a|732|1|1"))
		r := post(t, s.URL(), `"getAssetJobLogs"`, body)
		if r.status != 200 {
			t.Fatalf("version %s: status %d", v, r.status)
		}
		if got := flatItems(t, r.body, ns); len(got) != 6 {
			t.Errorf("version %s: got %d items, want 6", v, len(got))
		}
	}

	restricted := referenceServer(t, ipstest.WithAPIVersions("2013-02-15"))
	body := envelope(authXML("api@example.com", passwd), "getAssetJobLogs", v2014, el("companyHandle", "c|6")+el("assetHandle", "a|732|1|1"))
	if r := post(t, restricted.URL(), "", body); r.status != 500 {
		t.Errorf("unlisted version: status %d, want 500", r.status)
	}
}

func TestPrefixStylesDecodeTheSame(t *testing.T) {
	want := flatAll(referenceServer(t).Entries(3))
	markers := map[ipstest.Prefix]string{
		ipstest.PrefixDefault: `<getAssetJobLogsReturn xmlns="`,
		ipstest.PrefixNS1:     `<ns1:getAssetJobLogsReturn xmlns:ns1="`,
		ipstest.PrefixTNS:     `<tns:getAssetJobLogsReturn>`,
	}
	for p, marker := range markers {
		s := referenceServer(t, ipstest.WithPrefix(p))
		r := post(t, s.URL(), "getAssetJobLogs", assetLogsRequest("c|6", "a|732|1|3"))
		if !bytes.Contains(r.body, []byte(marker)) {
			t.Errorf("%v: answer lacks %s", p, marker)
		}
		if got := flatItems(t, r.body, v2014); !reflect.DeepEqual(got, want) {
			t.Errorf("%v: items differ", p)
		}
	}

	s := referenceServer(t, ipstest.WithPrefix(ipstest.PrefixRotate))
	seen := map[string]bool{}
	for range 3 {
		r := post(t, s.URL(), "getAssetJobLogs", assetLogsRequest("c|6", "a|732|1|3"))
		for p, m := range markers {
			if bytes.Contains(r.body, []byte(m)) {
				seen[p.String()] = true
			}
		}
		if got := flatItems(t, r.body, v2014); !reflect.DeepEqual(got, want) {
			t.Errorf("rotate: items differ")
		}
	}
	if len(seen) != 3 {
		t.Errorf("rotate used styles %v, want all three", seen)
	}
}

func TestGzip(t *testing.T) {
	s := referenceServer(t)
	plain := post(t, s.URL(), "getAssetJobLogs", assetLogsRequest("c|6", "a|732|1|3"))

	r := post(t, s.URL(), "getAssetJobLogs", assetLogsRequest("c|6", "a|732|1|3"), "Accept-Encoding", "gzip, deflate")
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", r.header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(bytes.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, plain.body) {
		t.Errorf("gunzipped answer differs from the plain one")
	}

	off := strings.Replace(assetLogsRequest("c|6", "a|732|1|3"), "</authHeader>", "<gzipResponse>false</gzipResponse></authHeader>", 1)
	if r := post(t, s.URL(), "getAssetJobLogs", off, "Accept-Encoding", "gzip"); r.header.Get("Content-Encoding") != "" {
		t.Errorf("gzipResponse=false: Content-Encoding %q, want none", r.header.Get("Content-Encoding"))
	}
	if r := post(t, s.URL(), "getAssetJobLogs", assetLogsRequest("c|6", "a|732|1|3"), "Accept-Encoding", "gzip;q=0"); r.header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0: Content-Encoding %q, want none", r.header.Get("Content-Encoding"))
	}
}

// TestGolden pins the wire format of each prefix style and shows that the
// same seed and clock give the same bytes.
func TestGolden(t *testing.T) {
	for _, p := range []ipstest.Prefix{ipstest.PrefixDefault, ipstest.PrefixNS1, ipstest.PrefixTNS} {
		t.Run(p.String(), func(t *testing.T) {
			render := func(seed uint64) []byte {
				s := referenceServer(t, ipstest.WithPrefix(p), ipstest.WithSeed(seed), ipstest.WithCatalog(600, 12))
				r := post(t, s.URL(), "getAssetJobLogs", assetLogsRequest("c|6", "a|732|1|535"))
				return r.body
			}
			got := render(7)
			if again := render(7); !bytes.Equal(got, again) {
				t.Fatalf("same seed gave different bytes")
			}
			if other := render(8); bytes.Equal(got, other) {
				t.Fatalf("different seeds gave the same bytes")
			}
			path := filepath.Join("testdata", "getAssetJobLogs-"+p.String()+".xml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("answer differs from %s (run with -update if intended)\ngot %s", path, got)
			}
		})
	}
}

func TestCatalogShape(t *testing.T) {
	s := referenceServer(t, ipstest.WithCatalog(300, 40))
	types := map[string]bool{}
	shapes := map[string]bool{}
	horizon := s.Start().Add(-ipstest.BaseAge)
	for i := range 300 {
		es := s.Entries(i)
		if len(es) != 40 {
			t.Fatalf("asset %d: %d entries, want 40", i, len(es))
		}
		for k, e := range es {
			types[e.LogType] = true
			if k > 0 && !e.LogDate.After(es[k-1].LogDate) {
				t.Fatalf("asset %d: logDate not strictly increasing at %d", i, k)
			}
			if !e.LogDate.Before(horizon) {
				t.Fatalf("asset %d entry %d: %v not before start-BaseAge %v", i, k, e.LogDate, horizon)
			}
			if !e.LogDate.Equal(e.LogDate.Truncate(1e6)) {
				t.Fatalf("logDate %v is finer than milliseconds", e.LogDate)
			}
			for _, a := range e.AuxArray {
				switch {
				case a.AssetHandle != nil && a.DateCreated != nil:
					shapes["detail+date"] = true
				case a.AssetHandle != nil:
					shapes["detail"] = true
				case a.DateCreated != nil:
					shapes["aux+date"] = true
				default:
					shapes["aux"] = true
				}
			}
		}
	}
	if len(types) < 6 {
		t.Errorf("only %d log types: %v", len(types), types)
	}
	if len(shapes) != 4 {
		t.Errorf("auxArray shapes %v, want all four combinations", shapes)
	}
	if got, want := s.TotalEntries(), 300*40; got != want {
		t.Errorf("TotalEntries %d, want %d", got, want)
	}
	if got := len(s.AssetHandles()); got != 300 {
		t.Errorf("AssetHandles has %d, want 300", got)
	}
	if got := len(s.AllEntries()); got != 300*40 {
		t.Errorf("AllEntries has %d, want %d", got, 300*40)
	}
}

// TestLazyCatalog checks that a 100,000 × 1,000 catalog allocates next to
// nothing when built.
func TestLazyCatalog(t *testing.T) {
	build := func() {
		h, err := ipstest.NewHandler(ipstest.WithCatalog(100_000, 1_000))
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	if allocs := testing.AllocsPerRun(5, build); allocs > 100 {
		t.Errorf("NewHandler made %v allocations, want <= 100", allocs)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	build()
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
		t.Errorf("NewHandler allocated %d bytes, want <= 256 KiB", n)
	}

	h, err := ipstest.NewHandler(ipstest.WithCatalog(100_000, 1_000))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if got := h.TotalEntries(); got != 100_000_000 {
		t.Errorf("TotalEntries %d, want 1e8", got)
	}
	if got := len(h.Entries(99_999)); got != 1_000 {
		t.Errorf("last asset has %d entries, want 1000", got)
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, opt := range map[string]ipstest.Option{
		"negative assets": ipstest.WithCatalog(-1, 1),
		"error rate > 1":  ipstest.WithErrorRate(1.5),
		"empty company":   ipstest.WithCompany(""),
		"bad prefix":      ipstest.WithPrefix(ipstest.Prefix(9)),
	} {
		if _, err := ipstest.NewHandler(opt); err == nil {
			t.Errorf("%s: NewHandler accepted it", name)
		}
	}
}

func TestAccessToken(t *testing.T) {
	s := referenceServer(t, ipstest.WithAccessToken("tok-123"))
	params := el("companyHandle", "c|6") + el("assetHandle", "a|732|1|7")
	header := func(tok string) string {
		return `<authHeader xmlns="` + ipsNS + `"><user>api@example.com</user><accessToken>` + tok + `</accessToken></authHeader>`
	}
	if r := post(t, s.URL(), "", envelope(header("tok-123"), "getAssetJobLogs", v2014, params)); r.status != 200 {
		t.Errorf("right token: status %d, want 200", r.status)
	}
	r := post(t, s.URL(), "", envelope(header("tok-999"), "getAssetJobLogs", v2014, params))
	if f := faultOf(t, r.body); f.code != 10001 || strings.Contains(string(r.body), "tok-999") {
		t.Errorf("wrong token: %+v, want 10001 without the token", f)
	}
}
