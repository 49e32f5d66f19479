package ipstest_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// discardWriter is a ResponseWriter that drops the body.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServeAssetJobLogs serves 1,000-entry asset logs: rendered by
// the handler alone, and over HTTP (plain and gzip) with the client reading
// the whole body. entries/s is the figure to compare with the client's
// decoding rate.
func BenchmarkServeAssetJobLogs(b *testing.B) {
	const entries = 1000
	s := ipstest.NewServer(ipstest.WithCatalog(1000, entries))
	defer s.Close()
	body := func(i int) string { return assetLogsRequest("c|6", s.AssetHandle(i%1000)) }

	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		w := &discardWriter{h: http.Header{}}
		i := 0
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader(body(i)))
			s.ServeHTTP(w, req)
			i++
		}
		b.ReportMetric(float64(b.N*entries)/b.Elapsed().Seconds(), "entries/s")
	})
	for _, enc := range []string{"identity", "gzip"} {
		b.Run("http-"+enc, func(b *testing.B) {
			b.ReportAllocs()
			client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			i := 0
			for b.Loop() {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL(), strings.NewReader(body(i)))
				req.Header.Set("Accept-Encoding", enc)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n == 0 {
					b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
				}
				i++
			}
			b.ReportMetric(float64(b.N*entries)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// BenchmarkNewHandlerLargeCatalog shows that a 100,000 × 1,000 catalog
// costs nothing to build (see B/op).
func BenchmarkNewHandlerLargeCatalog(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		h, err := ipstest.NewHandler(ipstest.WithCatalog(100_000, 1_000))
		if err != nil {
			b.Fatal(err)
		}
		h.Close()
	}
}
