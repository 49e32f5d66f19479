package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

var metricsAddrRE = regexp.MustCompile(`"msg":"serving metrics","addr":"(http://[^"]+)/metrics"`)

// waitFor polls cond every 20ms until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// metricsBase waits until the producer logging to stderr says where it
// serves its metrics, and returns that base URL.
func metricsBase(t *testing.T, stderr *syncBuffer) string {
	t.Helper()
	var base string
	waitFor(t, "the metrics address in the log", 10*time.Second, func() bool {
		m := metricsAddrRE.FindStringSubmatch(stderr.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	return base
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestMetricsHealthAndReadiness(t *testing.T) {
	s := newStack(t, 10, 4)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, s.args("-metrics-addr", "127.0.0.1:0", "-poll-interval", "100ms", "-log-level", "info"), s.env(), &stdout, &stderr)
	}()
	base := metricsBase(t, &stderr)
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz: got %d %q, want 200", code, body)
	}
	waitFor(t, "two rounds", 10*time.Second, func() bool { return strings.Count(stderr.String(), `"msg":"round done"`) >= 2 })
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz after a round: got %d %q, want 200", code, body)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`assetjoblog_ips_calls_total{operation="getAssetJobLogs",outcome="ok"}`,
		`assetjoblog_ips_call_duration_seconds_bucket{operation="getAssetJobLogs"`,
		"assetjoblog_entries_published_total 40\n",
		"assetjoblog_publish_errors_total 0\n",
		"assetjoblog_checkpoint_age_seconds ",
		"assetjoblog_round_duration_seconds_count ",
		"assetjoblog_round_assets 10\n",
		`assetjoblog_round_ips_calls{operation="getAssetJobLogs"} 10`,
		"go_goroutines ",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}

func TestReadinessBeforeFirstRound(t *testing.T) {
	s := newStack(t, 3, 1)
	s.sim.SetLatency(2 * time.Second)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, s.args("-metrics-addr", "127.0.0.1:0", "-shutdown-timeout", "100ms"), s.env(), &stdout, &stderr)
	}()
	base := metricsBase(t, &stderr)
	if code, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz before any round: got %d, want 503", code)
	}
	cancel()
	<-done
}

func TestProgressBarOnBackfill(t *testing.T) {
	s := newStack(t, 12, 2)
	var stdout, stderr syncBuffer
	if err := run(t.Context(), s.args("-once", "-progress", "on", "-log-level", "warn"), s.env(), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	out := stderr.String()
	if !strings.Contains(out, "12/12") || !strings.Contains(out, "24 entries published") {
		t.Errorf("progress output lacks assets done of total and entries published:\n%q", out)
	}
}
