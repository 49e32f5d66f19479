package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// syncBuffer is a stderr that the test may read while run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type answer struct {
	Return *struct {
		Items []struct {
			JobHandle string `xml:"http://www.scene7.com/IpsApi/xsd/2014-04-03 jobHandle"`
			LogDate   string `xml:"http://www.scene7.com/IpsApi/xsd/2014-04-03 logDate"`
		} `xml:"http://www.scene7.com/IpsApi/xsd/2014-04-03 jobLogArray>items"`
	} `xml:"Body>getAssetJobLogsReturn"`
	FaultCode string `xml:"Body>Fault>faultcode"`
}

func postReference(t *testing.T, url, password string) (int, answer) {
	t.Helper()
	body := ipstest.ReferenceRequest(password)
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	req.Header.Set("SOAPAction", "getAssetJobLogs")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var a answer
	if err := xml.Unmarshal(raw, &a); err != nil {
		t.Fatalf("answer is not XML: %v\n%s", err, raw)
	}
	return resp.StatusCode, a
}

func TestRunServesTheReferenceRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	stderr := &syncBuffer{}
	env := func(k string) string {
		if k == "IPS_SIM_PASSWORD" {
			return "from-env"
		}
		return ""
	}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-asset-prefix", "a|732|1|", "-assets", "600",
			"-entries", "4", "-prefix", "rotate", "-activity", "50/s"}, env, outW, stderr)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatalf("no URL printed: %v (stderr: %s)", err, stderr.String())
	}
	go io.Copy(io.Discard, outR)
	url := strings.TrimSpace(line)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/scene7/services/IpsApiService") {
		t.Fatalf("printed URL %q", url)
	}
	if !strings.Contains(stderr.String(), url) {
		t.Errorf("log lacks the URL: %s", stderr.String())
	}

	status, a := postReference(t, url, "from-env")
	if status != 200 || a.Return == nil || len(a.Return.Items) < 4 {
		t.Fatalf("status %d, answer %+v; want 200 and at least 4 items", status, a)
	}
	if status, a := postReference(t, url, "secret"); status != 500 || a.FaultCode != "soapenv:Client" {
		t.Errorf("flag default password should be replaced by IPS_SIM_PASSWORD: status %d fault %q", status, a.FaultCode)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run returned %v, want nil after cancel", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	if strings.Contains(stderr.String(), "from-env") {
		t.Errorf("the password reached the log")
	}
}

func TestRunRejectsBadFlagsBeforeListening(t *testing.T) {
	for _, args := range [][]string{
		{"-activity", "fast"},
		{"-activity", "5/d"},
		{"-prefix", "ns2"},
		{"-error-rate", "2"},
		{"-assets", "-1"},
		{"-new-assets", "lots"},
		{"-search-page-cap", "-1"},
		{"-addr", "127.0.0.1:0", "extra"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &stdout, &stderr)
		if err == nil {
			t.Errorf("%v: run accepted it", args)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: printed %q before failing", args, stdout.String())
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"0": 0, "5": 5, "5/s": 5, "120/m": 2, "7200/h": 2, "0.5/s": 0.5} {
		got, err := parseRate(in)
		if err != nil || got != want {
			t.Errorf("parseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}
