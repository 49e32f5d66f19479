package ips_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// capture records the requests a server received.
type capture struct {
	mu   sync.Mutex
	reqs []capturedRequest
}

type capturedRequest struct {
	header http.Header
	body   []byte
}

func (c *capture) handler(respond func(n int, w http.ResponseWriter, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.reqs = append(c.reqs, capturedRequest{header: r.Header.Clone(), body: body})
		n := len(c.reqs)
		c.mu.Unlock()
		if r.Method != http.MethodPost {
			http.Error(w, "want POST", http.StatusMethodNotAllowed)
			return
		}
		respond(n, w, body)
	}
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request differs from %s:\n got %s\nwant %s", path, got, want)
	}
}

func TestRequestsMatchGoldenFiles(t *testing.T) {
	var cap capture
	respond := func(_ int, w http.ResponseWriter, body []byte) {
		switch {
		case bytes.Contains(body, []byte("getAssetJobLogsParam")):
			w.Write(readFixture(t, "asset_empty.xml"))
		case bytes.Contains(body, []byte("getJobLogsParam")):
			w.Write(readFixture(t, "joblogs.xml"))
		default:
			w.Write(readFixture(t, "details_page3.xml"))
		}
	}
	c := newClient(t, cap.handler(respond), func(cfg *ips.Config) { cfg.DetailPageSize = 2 })
	ctx := context.Background()

	if _, _, err := c.AssetJobLogs(ctx, testCompany, "a|732|1|535 <&>"); err != nil {
		t.Fatalf("AssetJobLogs: %v", err)
	}
	zone := time.FixedZone("PDT", -7*3600)
	start := time.Date(2007, 10, 24, 16, 0, 0, 123456789, zone)
	end := time.Date(2007, 10, 24, 23, 30, 0, 0, time.UTC)
	if _, err := c.JobLogs(ctx, testCompany, start, end, 500); err != nil {
		t.Fatalf("JobLogs: %v", err)
	}
	if _, _, err := c.JobLogDetails(ctx, testCompany, "j|6||Add_2007-10-24-16:11:07", 3, 2); err != nil {
		t.Fatalf("JobLogDetails: %v", err)
	}
	if len(cap.reqs) != 3 {
		t.Fatalf("server got %d requests, want 3", len(cap.reqs))
	}
	for i, op := range []string{"getAssetJobLogs", "getJobLogs", "getJobLogDetails"} {
		r := cap.reqs[i]
		checkGolden(t, "request_"+op+".golden", r.body)
		for k, want := range map[string]string{
			"Content-Type":    "text/xml; charset=UTF-8",
			"Soapaction":      op,
			"Accept-Encoding": "gzip",
			"User-Agent":      "assetjoblog-producer/1.0",
		} {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s: header %s = %q, want %q", op, k, got, want)
			}
		}
	}
}

func TestAccessTokenReplacesPassword(t *testing.T) {
	var cap capture
	c := newClient(t, cap.handler(func(_ int, w http.ResponseWriter, _ []byte) { w.Write(readFixture(t, "asset_empty.xml")) }),
		func(cfg *ips.Config) {
			cfg.User, cfg.Password, cfg.AccessToken, cfg.APIVersion = "", "", "tok<en>", "2022-11-01-beta"
		})
	if _, _, err := c.AssetJobLogs(context.Background(), testCompany, testAsset); err != nil {
		t.Fatalf("AssetJobLogs: %v", err)
	}
	body := string(cap.reqs[0].body)
	for _, want := range []string{
		`<authHeader xmlns="http://www.scene7.com/IpsApi/xsd"><accessToken>tok&lt;en&gt;</accessToken><locale>en-US</locale>`,
		`<getAssetJobLogsParam xmlns="http://www.scene7.com/IpsApi/xsd/2022-11-01-beta">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("request %s\ndoes not contain %s", body, want)
		}
	}
	if strings.Contains(body, "<password>") || strings.Contains(body, "<user>") {
		t.Errorf("request %s has a password or user element", body)
	}
}

func TestAssetJobLogsDecodesResponses(t *testing.T) {
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	fixture := readFixture(t, "asset_ns1.xml")
	tests := map[string]http.HandlerFunc{
		"plain": serve(200, fixture),
		"gzip with Content-Encoding": func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Accept-Encoding") != "gzip" {
				t.Errorf("Accept-Encoding = %q", r.Header.Get("Accept-Encoding"))
			}
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gz(fixture))
		},
		"gzip without Content-Encoding": serve(200, gz(fixture)),
	}
	for name, h := range tests {
		t.Run(name, func(t *testing.T) {
			c := newClient(t, h)
			got, _, err := c.AssetJobLogs(context.Background(), testCompany, testAsset)
			if err != nil {
				t.Fatalf("AssetJobLogs: %v", err)
			}
			checkEntries(t, got, twoEntries)
		})
	}
}

func TestAssetJobLogsFaults(t *testing.T) {
	tests := []struct {
		fixture   string
		status    int
		kind      ips.FaultKind
		code      int
		retryable bool
	}{
		{"fault_authentication.xml", 500, ips.FaultAuthentication, 10001, false},
		{"fault_authentication.xml", 200, ips.FaultAuthentication, 10001, false},
		{"fault_authorization.xml", 500, ips.FaultAuthorization, 20003, false},
		{"fault_authorization.xml", 200, ips.FaultAuthorization, 20003, false},
		{"fault_api_generic.xml", 500, ips.FaultAPI, 30000, true},
		{"fault_api_generic.xml", 200, ips.FaultAPI, 30000, true},
		{"fault_api_invalid_param.xml", 500, ips.FaultAPI, 30001, false},
		{"fault_unknown.xml", 500, ips.FaultUnknown, 0, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s HTTP %d", tt.fixture, tt.status), func(t *testing.T) {
			c := newClient(t, serve(tt.status, readFixture(t, tt.fixture)))
			_, _, err := c.AssetJobLogs(context.Background(), testCompany, testAsset)
			var f *ips.Fault
			if !errors.As(err, &f) {
				t.Fatalf("got %v, want a *ips.Fault", err)
			}
			if f.Kind != tt.kind || f.Code != tt.code || f.HTTPStatus != tt.status {
				t.Errorf("got kind %v code %d status %d, want %v %d %d", f.Kind, f.Code, f.HTTPStatus, tt.kind, tt.code, tt.status)
			}
			if got := ips.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable = %v, want %v", got, tt.retryable)
			}
			wantPrefix := `getAssetJobLogs of asset "a|732|1|535" (company "c|6"): IPS ` + tt.kind.String() + " fault"
			if !strings.HasPrefix(err.Error(), wantPrefix) {
				t.Errorf("error %q does not start with %q", err, wantPrefix)
			}
		})
	}
}

func TestAssetJobLogsTransportErrors(t *testing.T) {
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name          string
		handler       http.HandlerFunc
		status        int
		retryAfterMin time.Duration
		retryAfterMax time.Duration
		bodyHas       string
		retryable     bool
	}{
		{
			name: "HTML 503 with Retry-After seconds",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(503)
				w.Write(readFixture(t, "gateway_503.html"))
			},
			status: 503, retryAfterMin: 120 * time.Second, retryAfterMax: 120 * time.Second,
			bodyHas: "503 Service Temporarily Unavailable", retryable: true,
		},
		{
			name: "HTML 503 with Retry-After HTTP-date",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", httpDate)
				w.WriteHeader(503)
				w.Write(readFixture(t, "gateway_503.html"))
			},
			status: 503, retryAfterMin: 30 * time.Second, retryAfterMax: 91 * time.Second,
			bodyHas: "nginx", retryable: true,
		},
		{name: "empty 502", handler: serve(502, nil), status: 502, retryable: true},
		{name: "empty 504", handler: serve(504, nil), status: 504, retryable: true},
		{
			name: "429 with Retry-After",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(429)
				io.WriteString(w, "slow down")
			},
			status: 429, retryAfterMin: 7 * time.Second, retryAfterMax: 7 * time.Second, bodyHas: "slow down", retryable: true,
		},
		{name: "404 page", handler: serve(404, []byte("<html>no such service</html>")), status: 404, bodyHas: "no such service", retryable: false},
		{name: "500 with a non-fault envelope", handler: serve(500, readFixture(t, "asset_empty.xml")), status: 500, retryable: true},
		{
			name: "truncated body",
			handler: func(w http.ResponseWriter, r *http.Request) {
				full := readFixture(t, "asset_ns1.xml")
				w.Header().Set("Content-Length", strconv.Itoa(len(full)))
				w.Write(full[:len(full)/2])
			},
			status: 200, retryable: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.handler)
			_, _, err := c.AssetJobLogs(context.Background(), testCompany, testAsset)
			var te *ips.TransportError
			if !errors.As(err, &te) {
				t.Fatalf("got %v, want a *ips.TransportError", err)
			}
			if te.StatusCode != tt.status || te.Op != "getAssetJobLogs" {
				t.Errorf("got status %d op %q, want %d getAssetJobLogs", te.StatusCode, te.Op, tt.status)
			}
			if got := ips.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, got, tt.retryable)
			}
			d, ok := ips.RetryAfter(err)
			if tt.retryAfterMax == 0 {
				if ok {
					t.Errorf("RetryAfter = %v, true; want none", d)
				}
			} else if !ok || d < tt.retryAfterMin || d > tt.retryAfterMax {
				t.Errorf("RetryAfter = %v, %v; want %v..%v", d, ok, tt.retryAfterMin, tt.retryAfterMax)
			}
			if !strings.Contains(te.Body, tt.bodyHas) || len(te.Body) > 210 {
				t.Errorf("Body %q: want at most ~200 bytes containing %q", te.Body, tt.bodyHas)
			}
			if !strings.HasPrefix(err.Error(), `getAssetJobLogs of asset "a|732|1|535" (company "c|6"): `) {
				t.Errorf("error %q does not name the operation and asset", err)
			}
		})
	}
}

func TestAssetJobLogsNetworkErrorIsRetryable(t *testing.T) {
	c, err := ips.New(ips.Config{URL: "http://127.0.0.1:1/scene7/services/IpsApiService", User: testUser, Password: testPassword})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = c.AssetJobLogs(context.Background(), testCompany, testAsset)
	var te *ips.TransportError
	if !errors.As(err, &te) || te.Err == nil || te.StatusCode != 0 {
		t.Fatalf("got %v, want a TransportError with a network error", err)
	}
	if !ips.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = false, want true", err)
	}
}

func TestAssetJobLogsMalformedAndOversize(t *testing.T) {
	big := append([]byte(nil), readFixture(t, "asset_ns1.xml")...)
	gzBig := func() []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(big)
		zw.Write(bytes.Repeat([]byte(" "), 1<<20)) // compresses to almost nothing
		zw.Close()
		return buf.Bytes()
	}()
	tests := []struct {
		name      string
		handler   http.HandlerFunc
		limit     int64
		sentinel  error
		inErr     string
		retryable bool
	}{
		{name: "oversize", handler: serve(200, big), limit: 512, sentinel: ips.ErrResponseTooLarge, inErr: "512 bytes"},
		{name: "oversize after gunzip", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gzBig)
		}, limit: 64 << 10, sentinel: ips.ErrResponseTooLarge, inErr: "65536 bytes"},
		{name: "exactly the limit", handler: serve(200, big), limit: int64(len(big))},
		{name: "deeply nested", handler: serve(200, []byte(deeplyNested(10000))), sentinel: ips.ErrMalformedResponse, inErr: "deeper than 64"},
		{name: "HTML with 200", handler: serve(200, []byte("<html><body>login</body></html>")), sentinel: ips.ErrMalformedResponse, inErr: "not a SOAP"},
		{name: "XML cut short with complete HTTP framing", handler: serve(200, readFixture(t, "asset_truncated.xml")), sentinel: ips.ErrMalformedResponse, inErr: "truncated", retryable: true},
		{name: "broken gzip", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write([]byte("not gzip at all"))
		}, sentinel: ips.ErrMalformedResponse, inErr: "corrupt gzip"},
		{name: "gzip cut short", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gzBig[:len(gzBig)/2])
		}, inErr: "unexpected EOF", retryable: true},
		{name: "unsupported encoding", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "br")
			w.Write(big)
		}, sentinel: ips.ErrMalformedResponse, inErr: `unsupported Content-Encoding "br"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, tt.handler, func(cfg *ips.Config) { cfg.MaxResponseBytes = tt.limit })
			got, _, err := c.AssetJobLogs(context.Background(), testCompany, testAsset)
			if tt.inErr == "" {
				if err != nil || len(got) != 2 {
					t.Fatalf("got %d entries, %v; want 2 entries", len(got), err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got %d entries and no error", len(got))
			}
			if tt.sentinel != nil && !errors.Is(err, tt.sentinel) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
			}
			if !strings.Contains(err.Error(), tt.inErr) || !strings.Contains(err.Error(), "getAssetJobLogs of asset") {
				t.Errorf("error %q does not name the operation and %q", err, tt.inErr)
			}
			if got := ips.IsRetryable(err); got != tt.retryable {
				t.Errorf("IsRetryable(%v) = %v, want %v", err, got, tt.retryable)
			}
		})
	}
}

func TestCallerCancellationIsNotRetryable(t *testing.T) {
	release := make(chan struct{})
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, func() {}
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := tc.ctx()
			defer cancel()
			_, _, err := c.AssetJobLogs(ctx, testCompany, testAsset)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if ips.IsRetryable(err) {
				t.Errorf("IsRetryable(%v) = true, want false", err)
			}
		})
	}
}

func TestHTTPClientTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, func(cfg *ips.Config) { cfg.HTTPClient = &http.Client{Timeout: 50 * time.Millisecond} })
	defer close(release)
	_, _, err := c.AssetJobLogs(context.Background(), testCompany, testAsset)
	if err == nil || !ips.IsRetryable(err) {
		t.Fatalf("IsRetryable(%v) = false, want true", err)
	}
}

func TestJobAssetsPagesUntilTotal(t *testing.T) {
	var cap capture
	c := newClient(t, cap.handler(func(n int, w http.ResponseWriter, body []byte) {
		page := between(string(body), "<resultsPage>", "</resultsPage>")
		w.Write(readFixture(t, "details_page"+page+".xml"))
	}), func(cfg *ips.Config) { cfg.DetailPageSize = 2 })
	got, err := c.JobAssets(context.Background(), testCompany, "j|6||Add")
	if err != nil {
		t.Fatalf("JobAssets: %v", err)
	}
	want := []string{"a|1|1|1", "a|1|1|2", "a|1|1|3", "a|1|1|4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(cap.reqs) != 3 {
		t.Fatalf("got %d requests, want 3", len(cap.reqs))
	}
	for i, r := range cap.reqs {
		if p := between(string(r.body), "<resultsPage>", "</resultsPage>"); p != strconv.Itoa(i+1) {
			t.Errorf("request %d asked for page %s", i+1, p)
		}
		if pp := between(string(r.body), "<recordsPerPage>", "</recordsPerPage>"); pp != "2" {
			t.Errorf("request %d asked for %s rows a page, want 2", i+1, pp)
		}
	}
}

func TestJobAssetsStopsOnEmptyPage(t *testing.T) {
	var cap capture
	empty := strings.ReplaceAll(string(readFixture(t, "details_page3.xml")), "a|1|1|4", "")
	empty = empty[:strings.Index(empty, "<ns1:detailArray>")] + "<ns1:detailArray/></ns1:items></ns1:jobLogArray></ns1:getJobLogDetailsReturn></soapenv:Body></soapenv:Envelope>"
	c := newClient(t, cap.handler(func(n int, w http.ResponseWriter, _ []byte) {
		if n == 1 {
			w.Write(readFixture(t, "details_page1.xml")) // claims 5 rows in total
			return
		}
		io.WriteString(w, empty)
	}), func(cfg *ips.Config) { cfg.DetailPageSize = 2 })
	got, err := c.JobAssets(context.Background(), testCompany, "j|6||Add")
	if err != nil {
		t.Fatalf("JobAssets: %v", err)
	}
	if want := []string{"a|1|1|1", "a|1|1|2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if len(cap.reqs) != 2 {
		t.Errorf("got %d requests, want 2", len(cap.reqs))
	}
}

func TestJobLogsReturnsJobs(t *testing.T) {
	c := newClient(t, serve(200, readFixture(t, "joblogs.xml")))
	got, err := c.JobLogs(context.Background(), testCompany, time.Now().Add(-time.Hour), time.Now(), 100)
	if err != nil {
		t.Fatalf("JobLogs: %v", err)
	}
	if len(got) != 2 || got[0].JobHandle != "j|6||Add_2007-10-24-16:11:07" || !got[1].Running() {
		t.Errorf("got %+v", got)
	}
}

func TestObserverSeesEveryCall(t *testing.T) {
	type call struct {
		op  string
		err bool
	}
	var (
		mu    sync.Mutex
		calls []call
	)
	c := newClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("SOAPAction") == "getJobLogs" {
			w.WriteHeader(500)
			w.Write(readFixture(t, "fault_api_generic.xml"))
			return
		}
		w.Write(readFixture(t, "asset_empty.xml"))
	}, func(cfg *ips.Config) {
		cfg.Observer = func(op string, d time.Duration, err error) {
			mu.Lock()
			defer mu.Unlock()
			if d <= 0 {
				t.Errorf("observer: duration %v", d)
			}
			calls = append(calls, call{op, err != nil})
		}
	})
	_, _, _ = c.AssetJobLogs(context.Background(), testCompany, testAsset)
	c.JobLogs(context.Background(), testCompany, time.Time{}, time.Time{}, 0)
	want := []call{{"getAssetJobLogs", false}, {"getJobLogs", true}}
	if !reflect.DeepEqual(calls, want) {
		t.Errorf("got %+v, want %+v", calls, want)
	}
}

func TestSecretsNeverLeak(t *testing.T) {
	const token = "tok-SECRET-123"
	echo := func(w http.ResponseWriter, r *http.Request) {
		// A hostile or buggy server that echoes the credentials back in
		// every kind of error.
		body, _ := io.ReadAll(r.Body)
		secret := testPassword
		if bytes.Contains(body, []byte("accessToken")) {
			secret = token
		}
		esc := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(secret)
		switch r.URL.Query().Get("mode") {
		case "fault":
			w.WriteHeader(500)
			fmt.Fprintf(w, `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode><faultstring>bad password %s</faultstring><detail><authenticationFault xmlns="http://www.scene7.com/IpsApi/xsd"><code>10001</code><reason>Invalid password %s</reason></authenticationFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`, esc, esc)
		case "html":
			w.WriteHeader(502)
			fmt.Fprintf(w, "<html>proxy saw %s</html>", secret)
		case "malformed":
			fmt.Fprintf(w, `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns1:getAssetJobLogsReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03"><ns1:jobLogArray><ns1:items><ns1:logDate>%s</ns1:logDate></ns1:items></ns1:jobLogArray></ns1:getAssetJobLogsReturn></soapenv:Body></soapenv:Envelope>`, esc)
		}
	}
	for _, creds := range []struct {
		name   string
		secret string
		set    func(*ips.Config)
	}{
		{"password", testPassword, func(*ips.Config) {}},
		{"token", token, func(cfg *ips.Config) { cfg.User, cfg.Password, cfg.AccessToken = "", "", token }},
	} {
		for _, mode := range []string{"fault", "html", "malformed"} {
			t.Run(creds.name+" "+mode, func(t *testing.T) {
				var observed error
				c := newClient(t, echo, creds.set, func(cfg *ips.Config) {
					cfg.URL += "?mode=" + mode
					cfg.Observer = func(_ string, _ time.Duration, err error) { observed = err }
				})
				_, bad, err := c.AssetJobLogs(context.Background(), testCompany, testAsset)
				if mode == "malformed" {
					// One bad entry in a good response: its reason and raw
					// XML go to a dead letter or the log.
					if err != nil || len(bad) != 1 {
						t.Fatalf("got %v and %d bad entries, want one bad entry", err, len(bad))
					}
					if s := fmt.Sprintf("%+v %s", bad[0], bad[0].Raw); strings.Contains(s, creds.secret) {
						t.Errorf("secret leaked in the bad entry %q", s)
					}
					return
				}
				if err == nil {
					t.Fatal("got no error")
				}
				var f *ips.Fault
				var te *ips.TransportError
				fields := ""
				if errors.As(err, &f) {
					fields = fmt.Sprintf("%+v", *f)
				}
				if errors.As(err, &te) {
					fields = fmt.Sprintf("%+v", *te)
				}
				if errors.Unwrap(err) != nil {
					fields += errors.Unwrap(err).Error()
				}
				for _, s := range []string{fields, err.Error(), fmt.Sprintf("%v|%+v|%#v", err, err, err), observed.Error(), fmt.Sprintf("%v|%+v|%#v|%s", c, c, c, c)} {
					if strings.Contains(s, creds.secret) {
						t.Errorf("secret leaked in %q", s)
					}
				}
			})
		}
	}
}

func TestJobAssetsFromReadsOnlyLaterRows(t *testing.T) {
	var cap capture
	c := newClient(t, cap.handler(func(n int, w http.ResponseWriter, body []byte) {
		page := between(string(body), "<resultsPage>", "</resultsPage>")
		w.Write(readFixture(t, "details_page"+page+".xml"))
	}), func(cfg *ips.Config) { cfg.DetailPageSize = 2 })
	// Rows: a1 a2 | a2 a3 | a4 (5 rows).
	got, next, err := c.JobAssetsFrom(context.Background(), testCompany, "j|6||Add", 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a|1|1|3", "a|1|1|4"}; !reflect.DeepEqual(got, want) || next != 5 {
		t.Errorf("from row 3: got %q next %d, want %q next 5", got, next, want)
	}
	if len(cap.reqs) != 2 || between(string(cap.reqs[0].body), "<resultsPage>", "</resultsPage>") != "2" {
		t.Errorf("got %d requests starting at page %s, want 2 starting at the page of row 3 (2)",
			len(cap.reqs), between(string(cap.reqs[0].body), "<resultsPage>", "</resultsPage>"))
	}
	for _, want := range []string{"<sortBy>Date</sortBy>", "<sortDirection>Ascending</sortDirection>"} {
		if !bytes.Contains(cap.reqs[0].body, []byte(want)) {
			t.Errorf("request lacks %s", want)
		}
	}
	got, next, err = c.JobAssetsFrom(context.Background(), testCompany, "j|6||Add", 5)
	if err != nil || len(got) != 0 || next != 5 {
		t.Errorf("from the end: got %q next %d (%v), want nothing new and next 5", got, next, err)
	}
}
