package ipstest

import (
	"net/http"
	"net/http/httptest"
)

// Server is the simulator running on a local httptest server. The embedded
// Handler gives access to the catalog, activity, counters and faults.
type Server struct {
	*Handler
	ts *httptest.Server
}

// NewServer starts the simulator on a loopback port. It panics if an
// option is invalid, like httptest.NewServer panics when it cannot listen.
// Close it when done.
func NewServer(opts ...Option) *Server {
	h, err := NewHandler(opts...)
	if err != nil {
		panic("ipstest: " + err.Error())
	}
	return &Server{Handler: h, ts: httptest.NewServer(h)}
}

// URL is the full endpoint URL, ending in /scene7/services/IpsApiService.
func (s *Server) URL() string { return s.ts.URL + Path }

// Client returns an HTTP client configured for the server.
func (s *Server) Client() *http.Client { return s.ts.Client() }

// Close stops background activity, drops calls that are still waiting and
// shuts the server down. It is idempotent.
func (s *Server) Close() {
	s.Handler.Close()
	s.ts.Close()
}
