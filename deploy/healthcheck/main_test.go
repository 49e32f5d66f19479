package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			w.Write([]byte("ok\n"))
		case "/readyz":
			http.Error(w, "no poll round has completed yet", http.StatusServiceUnavailable)
		case "/soap":
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		case "/moved":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		}
	}))
	defer srv.Close()

	// A port nothing listens on: take a free one and close it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	for _, tc := range []struct {
		name     string
		args     []string
		want     int
		wantLine string // in stderr; empty means stderr must be empty
	}{
		{"2xx is healthy", []string{srv.URL + "/healthz"}, exitHealthy, ""},
		{"5xx is unhealthy and shows the status and body", []string{srv.URL + "/readyz"}, exitUnhealthy, "503 Service Unavailable: no poll round"},
		{"4xx is unhealthy by default", []string{srv.URL + "/soap"}, exitUnhealthy, "405"},
		{"4xx is healthy with -any-status", []string{"-any-status", srv.URL + "/soap"}, exitHealthy, ""},
		{"a redirect is not followed", []string{srv.URL + "/moved"}, exitUnhealthy, "302"},
		{"no listener is unhealthy", []string{closed}, exitUnhealthy, "GET " + closed},
		{"a slow answer times out", []string{"-timeout", "50ms", srv.URL + "/slow"}, exitUnhealthy, "deadline exceeded"},
		{"no URL is a usage error", nil, exitUsage, "exactly one URL"},
		{"two URLs are a usage error", []string{srv.URL, srv.URL}, exitUsage, "exactly one URL"},
		{"a non-http URL is a usage error", []string{"tcp://127.0.0.1:1"}, exitUsage, "not an http(s) URL"},
		{"a zero timeout is a usage error", []string{"-timeout", "0s", srv.URL}, exitUsage, "-timeout must be positive"},
		{"an unknown flag is a usage error", []string{"-insecure", srv.URL}, exitUsage, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if got := run(context.Background(), tc.args, &stderr); got != tc.want {
				t.Errorf("exit status: got %d, want %d (stderr %q)", got, tc.want, stderr.String())
			}
			switch {
			case tc.wantLine == "" && stderr.Len() != 0:
				t.Errorf("stderr: got %q, want nothing", stderr.String())
			case tc.wantLine != "" && !strings.Contains(stderr.String(), tc.wantLine):
				t.Errorf("stderr: got %q, want it to contain %q", stderr.String(), tc.wantLine)
			}
		})
	}
}
