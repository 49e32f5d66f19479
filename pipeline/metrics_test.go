package pipeline_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// metricValue returns the value of the series name{labels} in reg: a
// counter's or gauge's value, or a histogram's sample count. ok is false
// when the series does not exist.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels ...string) (v float64, ok bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue(), true
			case m.Gauge != nil:
				return m.Gauge.GetValue(), true
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount()), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func wantMetric(t *testing.T, reg *prometheus.Registry, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := metricValue(t, reg, name, labels...)
	if !ok {
		t.Errorf("%s%v: missing", name, labels)
		return
	}
	if got != want {
		t.Errorf("%s%v: got %v, want %v", name, labels, got, want)
	}
}

func histogram(t *testing.T, reg *prometheus.Registry, name string) *dto.Histogram {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram()
		}
	}
	t.Fatalf("%s: missing", name)
	return nil
}

// metricsPoller returns a poller whose clock reads *now, recording into a
// fresh registry.
func metricsPoller(t *testing.T, src pipeline.Source, sink pipeline.Sink, cps *pipelinetest.Checkpoints, now *time.Time, assets ...string) (*pipeline.Poller, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	p, err := pipeline.NewPoller(pipeline.Config{
		CompanyHandle: "c|6", Assets: assets,
		Source: src, Encoder: pipelinetest.JSONEncoder{}, Sink: sink, Checkpoints: cps,
		SourceRetry: policy(), SinkRetry: policy(), PollInterval: 90 * time.Second,
		Fatal:   func(err error) bool { return errors.Is(err, errFatal) },
		Metrics: pipeline.NewMetrics(reg),
		Now:     func() time.Time { return *now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, reg
}

func TestMetricsOfAGoodRound(t *testing.T) {
	src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
	src.add("a|1", "ten minutes old", t0.Add(-10*time.Minute))
	src.add("a|1", "two hours old", t0.Add(-2*time.Hour))
	src.add("a|2", "a second old", t0.Add(-time.Second))
	p, reg := metricsPoller(t, src, &pipelinetest.Sink{}, pipelinetest.NewCheckpoints(), &t0, "a|1", "a|2")
	if _, err := p.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantMetric(t, reg, 3, "assetjoblog_entries_published_total")
	wantMetric(t, reg, 90, "assetjoblog_poll_interval_seconds")
	wantMetric(t, reg, 1, "assetjoblog_rounds_total", "outcome", "ok")
	wantMetric(t, reg, 0, "assetjoblog_rounds_total", "outcome", "incomplete")
	wantMetric(t, reg, float64(t0.Unix()), "assetjoblog_last_round_success_timestamp_seconds")
	wantMetric(t, reg, 2, "assetjoblog_checkpoint_commits_total")
	wantMetric(t, reg, 0, "assetjoblog_checkpoint_commit_errors_total")
	wantMetric(t, reg, 2, "assetjoblog_publish_duration_seconds") // one attempt per asset
	wantMetric(t, reg, 0, "assetjoblog_publish_errors_total")

	// Freshness: logDate to acknowledgement, one observation per entry.
	h := histogram(t, reg, "assetjoblog_entry_freshness_seconds")
	if got, want := h.GetSampleCount(), uint64(3); got != want {
		t.Errorf("freshness observations: got %d, want %d", got, want)
	}
	if got, want := h.GetSampleSum(), float64(600+7200+1); got != want {
		t.Errorf("freshness sum: got %vs, want %vs", got, want)
	}
	for _, b := range h.GetBucket() {
		var want uint64
		switch {
		case b.GetUpperBound() >= 7200:
			want = 3
		case b.GetUpperBound() >= 600:
			want = 2
		case b.GetUpperBound() >= 1:
			want = 1
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("freshness bucket le=%v: got %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
}

func TestMetricsOfFailures(t *testing.T) {
	t.Run("an asset failing after its retries makes the round incomplete and keeps the last success", func(t *testing.T) {
		src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
		src.add("a|1", "x", t0)
		now := t0
		p, reg := metricsPoller(t, src, &pipelinetest.Sink{}, pipelinetest.NewCheckpoints(), &now, "a|1")
		if _, err := p.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		now = t0.Add(time.Hour)
		src.fail["a|1"] = []error{errors.New("bad asset")}
		src.delay = func() { now = now.Add(40 * time.Second) }
		if _, err := p.RunOnce(context.Background()); !errors.Is(err, pipeline.ErrIncomplete) {
			t.Fatalf("got %v, want ErrIncomplete", err)
		}
		wantMetric(t, reg, 40, "assetjoblog_last_round_duration_seconds")
		wantMetric(t, reg, 1, "assetjoblog_rounds_total", "outcome", "ok")
		wantMetric(t, reg, 1, "assetjoblog_rounds_total", "outcome", "incomplete")
		wantMetric(t, reg, 1, "assetjoblog_assets_failed_total")
		wantMetric(t, reg, float64(t0.Unix()), "assetjoblog_last_round_success_timestamp_seconds")
	})
	t.Run("a failed publish attempt is counted and timed, then the retry succeeds", func(t *testing.T) {
		src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
		src.add("a|1", "x", t0)
		failures := 1
		sink := &pipelinetest.Sink{Fail: func([]pipeline.Record) error {
			if failures > 0 {
				failures--
				return retryableErr{}
			}
			return nil
		}}
		p, reg := metricsPoller(t, src, sink, pipelinetest.NewCheckpoints(), &t0, "a|1")
		if _, err := p.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		wantMetric(t, reg, 1, "assetjoblog_publish_errors_total")
		wantMetric(t, reg, 2, "assetjoblog_publish_duration_seconds")
		wantMetric(t, reg, 1, "assetjoblog_retries_total", "target", "kafka")
		wantMetric(t, reg, 1, "assetjoblog_entries_published_total")
	})
	t.Run("a failed commit is counted and the round fails", func(t *testing.T) {
		src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
		src.add("a|1", "x", t0)
		cps := pipelinetest.NewCheckpoints()
		cps.PutErr = errors.New("disk full")
		p, reg := metricsPoller(t, src, &pipelinetest.Sink{}, cps, &t0, "a|1")
		if _, err := p.RunOnce(context.Background()); err == nil || errors.Is(err, pipeline.ErrIncomplete) {
			t.Fatalf("got %v, want a permanent error", err)
		}
		wantMetric(t, reg, 1, "assetjoblog_checkpoint_commit_errors_total")
		wantMetric(t, reg, 0, "assetjoblog_checkpoint_commits_total")
		wantMetric(t, reg, 1, "assetjoblog_rounds_total", "outcome", "failed")
		wantMetric(t, reg, 0, "assetjoblog_last_round_success_timestamp_seconds")
	})
}

func TestMetricsRecorders(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := pipeline.NewMetrics(reg)
	// Series that alerts watch exist at zero before anything happens.
	for _, s := range [][]string{
		{"assetjoblog_ips_errors_total", "kind", "authentication"},
		{"assetjoblog_ips_errors_total", "kind", "authorization"},
		{"assetjoblog_retries_total", "target", "ips"},
		{"assetjoblog_group_rebalances_total"},
		{"assetjoblog_group_owned_partitions"},
		{"assetjoblog_group_state_partitions"},
		{"assetjoblog_ready"},
	} {
		wantMetric(t, reg, 0, s[0], s[1:]...)
	}
	m.ObserveIPSError("authorization")
	wantMetric(t, reg, 1, "assetjoblog_ips_errors_total", "kind", "authorization")
	ready := false
	m.SetReadinessCheck(func() bool { return ready })
	wantMetric(t, reg, 0, "assetjoblog_ready")
	ready = true
	wantMetric(t, reg, 1, "assetjoblog_ready")

	m.GroupAssigned(7, 3, 120)
	m.GroupStatePartitions(12)
	m.GroupRebalance()
	m.GroupRebalance()
	m.GroupRestored(1500 * time.Millisecond)
	wantMetric(t, reg, 7, "assetjoblog_group_generation")
	wantMetric(t, reg, 3, "assetjoblog_group_owned_partitions")
	wantMetric(t, reg, 120, "assetjoblog_group_owned_assets")
	wantMetric(t, reg, 12, "assetjoblog_group_state_partitions")
	wantMetric(t, reg, 2, "assetjoblog_group_rebalances_total")
	if got, want := histogram(t, reg, "assetjoblog_group_restore_duration_seconds").GetSampleSum(), 1.5; got != want {
		t.Errorf("restore duration sum: got %v, want %v", got, want)
	}

	var none *pipeline.Metrics // records nothing, and does not panic
	none.ObserveIPSCall("getAssetJobLogs", "ok", time.Second)
	none.ObserveIPSError("transport")
	none.SetReadinessCheck(func() bool { return true })
	none.GroupAssigned(1, 1, 1)
	none.GroupStatePartitions(1)
	none.GroupRebalance()
	none.GroupRestored(time.Second)
}
