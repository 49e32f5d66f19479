package ips_test

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

const (
	testUser     = "api@example.com"
	testPassword = "s3cret&<pw>\"'"
	testCompany  = "c|6"
	testAsset    = "a|732|1|535"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newClient starts an httptest server with h and returns a client for it.
func newClient(t *testing.T, h http.HandlerFunc, mod ...func(*ips.Config)) *ips.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := ips.Config{URL: srv.URL + "/scene7/services/IpsApiService", User: testUser, Password: testPassword}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := ips.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// serve answers every request with status and body, as text/xml.
func serve(status int, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		w.WriteHeader(status)
		w.Write(body)
	}
}

// between returns the text of s between the first start and the next end.
func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	s = s[i+len(start):]
	if j := strings.Index(s, end); j >= 0 {
		return s[:j]
	}
	return ""
}
