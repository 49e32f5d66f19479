package ipstest_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// rawCall posts without keep-alive (so a dropped connection is not retried
// on another) and returns the response and the error of reading its body.
func rawCall(t *testing.T, ctx context.Context, url, body string) (*http.Response, []byte, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	return resp, raw, err
}

func TestFaultKinds(t *testing.T) {
	good := assetLogsRequest("c|6", "a|732|1|3")
	tests := []struct {
		name  string
		fault ipstest.Fault
		check func(t *testing.T, resp *http.Response, body []byte, err error)
	}{
		{"503 with Retry-After", ipstest.Fault{Kind: ipstest.FaultUnavailable, RetryAfter: 7},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "7" {
					t.Errorf("got %v %v Retry-After %q, want 503 7", err, status(resp), resp.Header.Get("Retry-After"))
				}
			}},
		{"429 without Retry-After", ipstest.Fault{Kind: ipstest.FaultTooManyRequests},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "" {
					t.Errorf("got %v %v Retry-After %q, want 429 and none", err, status(resp), resp.Header.Get("Retry-After"))
				}
			}},
		{"502 with empty body", ipstest.Fault{Kind: ipstest.FaultBadGateway},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if err != nil || resp.StatusCode != 502 || len(body) != 0 {
					t.Errorf("got %v %v body %q, want 502 and empty", err, status(resp), body)
				}
			}},
		{"504 with empty body by Status", ipstest.Fault{Kind: ipstest.FaultBadGateway, Status: 504},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if err != nil || resp.StatusCode != 504 || len(body) != 0 {
					t.Errorf("got %v %v body %q, want 504 and empty", err, status(resp), body)
				}
			}},
		{"HTML gateway page", ipstest.Fault{Kind: ipstest.FaultGatewayHTML},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if err != nil || resp.StatusCode != 503 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
					!strings.Contains(string(body), "<html>") {
					t.Errorf("got %v %v %q %q, want 503 text/html page", err, status(resp), resp.Header.Get("Content-Type"), body)
				}
			}},
		{"SOAP fault of any kind and code", ipstest.Fault{Kind: ipstest.FaultSOAP, Detail: ipstest.AuthorizationFault, Code: 20003, Reason: "No permission"},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if err != nil || resp.StatusCode != 500 {
					t.Fatalf("got %v %v, want 500", err, status(resp))
				}
				want := fault{"soapenv:Client", "AuthorizationException", "authorizationFault", 20003, "No permission"}
				if f := faultOf(t, body); f != want {
					t.Errorf("got %+v, want %+v", f, want)
				}
			}},
		{"SOAP fault defaults to ipsApiFault 30000", ipstest.Fault{Kind: ipstest.FaultSOAP, Status: 200},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("got %v %v, want 200", err, status(resp))
				}
				if f := faultOf(t, body); f.detail != "ipsApiFault" || f.code != 30000 || f.faultCode != "soapenv:Server" {
					t.Errorf("got %+v, want a Server ipsApiFault 30000", f)
				}
			}},
		{"connection reset", ipstest.Fault{Kind: ipstest.FaultConnectionReset},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if err == nil {
					t.Errorf("got %v and no error, want a transport error", status(resp))
				}
			}},
		{"truncated body", ipstest.Fault{Kind: ipstest.FaultTruncated},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if resp == nil || resp.StatusCode != 200 || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("got %v err %v, want 200 then unexpected EOF", status(resp), err)
				}
				if resp.ContentLength != int64(2*len(body)) && resp.ContentLength != int64(2*len(body)+1) {
					t.Errorf("got %d of Content-Length %d bytes, want half", len(body), resp.ContentLength)
				}
			}},
		{"malformed XML", ipstest.Fault{Kind: ipstest.FaultMalformedXML},
			func(t *testing.T, resp *http.Response, body []byte, err error) {
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("got %v %v, want 200", err, status(resp))
				}
				var v struct{}
				if xml.Unmarshal(body, &v) == nil {
					t.Errorf("body is well-formed: %s", body)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := referenceServer(t)
			f := tt.fault
			f.Op, f.Times = ipstest.OpGetAssetJobLogs, 1
			s.Inject(f)
			resp, body, err := rawCall(t, context.Background(), s.URL(), good)
			tt.check(t, resp, body, err)

			// Times: 1 is used up; the next call is answered normally.
			if resp, body, err := rawCall(t, context.Background(), s.URL(), good); err != nil || resp.StatusCode != 200 {
				t.Fatalf("call after the fault: %v %v %s", err, status(resp), body)
			}
			if got := s.Calls(ipstest.OpGetAssetJobLogs); got != 2 {
				t.Errorf("counted %d calls, want 2", got)
			}
		})
	}
}

func status(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	return resp.Status
}

func TestFaultTargeting(t *testing.T) {
	s := referenceServer(t)
	s.Inject(ipstest.Fault{Op: ipstest.OpGetJobLogs, Kind: ipstest.FaultBadGateway, Times: 2})
	if r := post(t, s.URL(), "", assetLogsRequest("c|6", "a|732|1|1")); r.status != 200 {
		t.Errorf("other operation: status %d, want 200", r.status)
	}
	for i := range 3 {
		want := 502
		if i == 2 {
			want = 200
		}
		if r := post(t, s.URL(), "", jobLogsRequest(el("numRows", "1"))); r.status != want {
			t.Errorf("getJobLogs call %d: status %d, want %d", i+1, r.status, want)
		}
	}

	s.Inject(ipstest.Fault{Kind: ipstest.FaultTooManyRequests})
	for range 3 {
		if r := post(t, s.URL(), "", assetLogsRequest("c|6", "a|732|1|1")); r.status != 429 {
			t.Errorf("permanent fault: status %d, want 429", r.status)
		}
	}
	s.ClearFaults()
	if r := post(t, s.URL(), "", assetLogsRequest("c|6", "a|732|1|1")); r.status != 200 {
		t.Errorf("after ClearFaults: status %d, want 200", r.status)
	}
}

func TestFaultProbabilityIsSeeded(t *testing.T) {
	pattern := func(seed uint64) string {
		s := referenceServer(t, ipstest.WithSeed(seed))
		s.Inject(ipstest.Fault{Kind: ipstest.FaultUnavailable, Probability: 0.3})
		var b strings.Builder
		for range 100 {
			if r := post(t, s.URL(), "", assetLogsRequest("c|6", "a|732|1|1")); r.status == 503 {
				b.WriteByte('x')
			} else {
				b.WriteByte('.')
			}
		}
		return b.String()
	}
	a := pattern(3)
	if n := strings.Count(a, "x"); n < 10 || n > 60 {
		t.Errorf("%d of 100 calls failed with probability 0.3", n)
	}
	if b := pattern(3); a != b {
		t.Errorf("same seed, different failures:\n%s\n%s", a, b)
	}

	s := referenceServer(t, ipstest.WithErrorRate(1))
	r := post(t, s.URL(), "", assetLogsRequest("c|6", "a|732|1|1"))
	if r.status != 503 || r.header.Get("Retry-After") != "1" {
		t.Errorf("error rate 1: status %d Retry-After %q, want 503 1", r.status, r.header.Get("Retry-After"))
	}
}

// TestLatencyHonoursContexts checks that a delayed call gives up when the
// client does and when the server closes; a wait that ignored them would
// hang the test for an hour.
func TestLatencyHonoursContexts(t *testing.T) {
	s := ipstest.NewServer(ipstest.WithAssetHandlePrefix("a|732|1|"), ipstest.WithCatalog(10, 1))
	s.Inject(ipstest.Fault{Kind: ipstest.FaultLatency, Delay: time.Hour, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := rawCall(t, ctx, s.URL(), assetLogsRequest("c|6", "a|732|1|1")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want the client's deadline", err)
	}

	s.SetLatency(time.Hour)
	errc := make(chan error, 1)
	go func() {
		_, _, err := rawCall(t, context.Background(), s.URL(), assetLogsRequest("c|6", "a|732|1|1"))
		errc <- err
	}()
	for s.TotalCalls() < 2 {
		time.Sleep(time.Millisecond)
	}
	s.Close()
	if err := <-errc; err == nil {
		t.Errorf("call waiting at Close got an answer, want a dropped connection")
	}
}

func TestInjectPanicsOnInvalidFault(t *testing.T) {
	s := referenceServer(t)
	defer func() {
		if recover() == nil {
			t.Errorf("Inject accepted Probability 2")
		}
	}()
	s.Inject(ipstest.Fault{Kind: ipstest.FaultUnavailable, Probability: 2})
}
