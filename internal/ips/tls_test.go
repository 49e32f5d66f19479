package ips_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

// This file holds the transport-security tests of the client: TLS
// verification, and hostile response bodies (oversize, gzip bombs, deep
// nesting, entity tricks) that must fail with a clear error in bounded
// memory.

const servicePath = "/scene7/services/IpsApiService"

func tlsServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(serve(200, readFixture(t, "asset_ns1.xml")))
	t.Cleanup(srv.Close)
	return srv
}

func tlsClient(t *testing.T, url string, tc *tls.Config) *ips.Client {
	t.Helper()
	cfg := ips.Config{URL: url + servicePath, User: testUser, Password: testPassword}
	if tc != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		cfg.HTTPClient = &http.Client{Transport: tr}
	}
	c, err := ips.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTLSSelfSignedCertificateIsRejectedByDefault(t *testing.T) {
	srv := tlsServer(t)
	_, _, err := tlsClient(t, srv.URL, nil).AssetJobLogs(context.Background(), testCompany, testAsset)
	if err == nil {
		t.Fatal("the default client accepted a self-signed certificate")
	}
	var unknown x509.UnknownAuthorityError
	var verify *tls.CertificateVerificationError
	if !errors.As(err, &unknown) && !errors.As(err, &verify) {
		t.Errorf("got %v, want an x509 verification error in the chain", err)
	}
	if !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "getAssetJobLogs") {
		t.Errorf("error %q does not name the operation and the certificate problem", err)
	}
	// The same certificate comes back on every call: retrying only delays
	// the stop (for -ips-retry-max, 5 minutes by default).
	if ips.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false: a certificate that fails verification fails again", err)
	}
}

func TestTLSHostnameMismatchIsRejected(t *testing.T) {
	srv := tlsServer(t)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	// The certificate names 127.0.0.1 and example.com, not localhost.
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	_, _, err := tlsClient(t, url, &tls.Config{RootCAs: pool}).AssetJobLogs(context.Background(), testCompany, testAsset)
	var host x509.HostnameError
	if !errors.As(err, &host) {
		t.Fatalf("got %v, want an x509.HostnameError", err)
	}
	if ips.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
}

func TestTLSTrustedCAIsAccepted(t *testing.T) {
	srv := tlsServer(t)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	got, _, err := tlsClient(t, srv.URL, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}).
		AssetJobLogs(context.Background(), testCompany, testAsset)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %d entries, %v; want 2 entries", len(got), err)
	}
}

func TestTLSInsecureSkipVerifyIsAccepted(t *testing.T) {
	srv := tlsServer(t)
	got, _, err := tlsClient(t, srv.URL, &tls.Config{InsecureSkipVerify: true}).
		AssetJobLogs(context.Background(), testCompany, testAsset)
	if err != nil || len(got) != 2 {
		t.Fatalf("got %d entries, %v; want 2 entries", len(got), err)
	}
}

// allocated returns the bytes allocated on the heap while fn runs (by the
// whole process, test server included).
func allocated(fn func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// streamer answers with head, then body repeated n times, then tail,
// without building the whole payload in memory.
func streamer(header map[string]string, head, body, tail []byte, n int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		if _, err := w.Write(head); err != nil {
			return
		}
		for i := 0; i < n; i++ {
			if _, err := w.Write(body); err != nil {
				return
			}
		}
		w.Write(tail)
	}
}

const (
	envelopeHead = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
		`<ns1:getAssetJobLogsReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03"><ns1:jobLogArray>`
	envelopeTail = `</ns1:jobLogArray></ns1:getAssetJobLogsReturn></soapenv:Body></soapenv:Envelope>`
	oneItem      = `<ns1:items><ns1:jobHandle>j|6||Add</ns1:jobHandle><ns1:jobName>Add</ns1:jobName>` +
		`<ns1:logMessage>processed</ns1:logMessage><ns1:logType>UploadSuccess</ns1:logType>` +
		`<ns1:submitUserEmail>someone@example.com</ns1:submitUserEmail>` +
		`<ns1:logDate>2007-10-24T16:12:32.297-07:00</ns1:logDate></ns1:items>`
)

func gzipped(t *testing.T, parts ...[]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	for _, p := range parts {
		zw.Write(p)
	}
	zw.Close()
	return buf.Bytes()
}

// TestHostileResponsesFailInBoundedMemory sends each hostile body at two
// sizes: the error is clear, and the memory allocated does not grow with
// the payload (it is bounded by MaxResponseBytes, here 1 MiB).
func TestHostileResponsesFailInBoundedMemory(t *testing.T) {
	const limit = 1 << 20
	spaces := bytes.Repeat([]byte(" "), 1<<20)
	bomb := func(mib int) http.HandlerFunc {
		parts := [][]byte{[]byte(envelopeHead)}
		for i := 0; i < mib; i++ {
			parts = append(parts, spaces)
		}
		body := gzipped(t, append(parts, []byte(envelopeTail))...)
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(body)
		}
	}
	laughs := func(levels int) []byte {
		var b strings.Builder
		b.WriteString(`<?xml version="1.0"?><!DOCTYPE soapenv:Envelope [<!ENTITY lol0 "lol">`)
		for i := 1; i <= levels; i++ {
			b.WriteString(`<!ENTITY lol` + string(rune('0'+i%10)) + strings.Repeat("x", i/10) + ` "`)
			b.WriteString(strings.Repeat("&lol"+string(rune('0'+(i-1)%10))+strings.Repeat("x", (i-1)/10)+";", 10))
			b.WriteString(`">`)
		}
		b.WriteString(`]>` + envelopeHead + `<ns1:items><ns1:jobHandle>&lol9;</ns1:jobHandle></ns1:items>` + envelopeTail)
		return []byte(b.String())
	}
	tests := []struct {
		name          string
		small, large  http.HandlerFunc
		sentinel      error
		inErr         string
		notInErr      string
		maxAllocBytes uint64
	}{
		{
			name:     "endless job log",
			small:    streamer(nil, []byte(envelopeHead), []byte(oneItem), []byte(envelopeTail), 4*limit/len(oneItem)),
			large:    streamer(nil, []byte(envelopeHead), []byte(oneItem), []byte(envelopeTail), 32*limit/len(oneItem)),
			sentinel: ips.ErrResponseTooLarge, inErr: "1048576 bytes", maxAllocBytes: 24 * limit,
		},
		{
			name:     "one huge text node",
			small:    streamer(nil, []byte(envelopeHead+`<ns1:items><ns1:logMessage>`), spaces[:64<<10], nil, 64),
			large:    streamer(nil, []byte(envelopeHead+`<ns1:items><ns1:logMessage>`), spaces[:64<<10], nil, 512),
			sentinel: ips.ErrResponseTooLarge, inErr: "1048576 bytes", maxAllocBytes: 16 * limit,
		},
		{
			name:     "gzip bomb",
			small:    bomb(8),
			large:    bomb(128),
			sentinel: ips.ErrResponseTooLarge, inErr: "1048576 bytes", maxAllocBytes: 8 * limit,
		},
		{
			name:     "deep nesting",
			small:    streamer(nil, []byte(envelopeHead), []byte("<x>"), nil, 1<<20),
			large:    streamer(nil, []byte(envelopeHead), []byte("<x>"), nil, 8<<20),
			sentinel: ips.ErrMalformedResponse, inErr: "deeper than 64", maxAllocBytes: 4 * limit,
		},
		{
			name:     "billion laughs",
			small:    serve(200, laughs(10)),
			large:    serve(200, laughs(40)),
			sentinel: ips.ErrMalformedResponse, inErr: "DTD", maxAllocBytes: 4 * limit,
		},
		{
			name: "external entity",
			small: serve(200, []byte(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>`+
				envelopeHead+`<ns1:items><ns1:jobHandle>&xxe;</ns1:jobHandle></ns1:items>`+envelopeTail)),
			large:    serve(200, []byte(envelopeHead+`<ns1:items><ns1:jobHandle>&xxe;</ns1:jobHandle></ns1:items>`+envelopeTail)),
			sentinel: ips.ErrMalformedResponse, notInErr: "root:", maxAllocBytes: 4 * limit,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var allocs [2]uint64
			for i, h := range []http.HandlerFunc{tt.small, tt.large} {
				c := newClient(t, h, func(cfg *ips.Config) { cfg.MaxResponseBytes = limit })
				var err error
				var got int
				allocs[i] = allocated(func() {
					entries, _, e := c.AssetJobLogs(context.Background(), testCompany, testAsset)
					got, err = len(entries), e
				})
				if err == nil {
					t.Fatalf("got %d entries and no error", got)
				}
				if !errors.Is(err, tt.sentinel) {
					t.Errorf("errors.Is(%v, %v) = false", err, tt.sentinel)
				}
				if !strings.Contains(err.Error(), tt.inErr) || (tt.notInErr != "" && strings.Contains(err.Error(), tt.notInErr)) {
					t.Errorf("error %q: want it to say %q and not %q", err, tt.inErr, tt.notInErr)
				}
				if ips.IsRetryable(err) {
					t.Errorf("IsRetryable(%v) = true, want false: the same request gets the same body", err)
				}
			}
			t.Logf("allocated: %d KiB (small payload), %d KiB (large payload)", allocs[0]>>10, allocs[1]>>10)
			if allocs[1] > tt.maxAllocBytes {
				t.Errorf("the large payload allocated %d KiB, want at most %d KiB (bounded by MaxResponseBytes)", allocs[1]>>10, tt.maxAllocBytes>>10)
			}
			if allocs[1] > 2*allocs[0]+limit {
				t.Errorf("allocation grows with the payload: %d KiB for the small one, %d KiB for the large one", allocs[0]>>10, allocs[1]>>10)
			}
		})
	}
}
