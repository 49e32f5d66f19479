package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// clock is a settable Config.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// logLines collects JSON log lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// withMessage returns the log lines whose msg starts with prefix, decoded.
func (l *logLines) withMessage(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// observed is a poller test harness with a settable clock, a JSON log and
// its own metrics registry.
type observed struct {
	clock *clock
	logs  *logLines
	reg   *prometheus.Registry
	cfg   pipeline.Config
}

func newObserved(src pipeline.Source, sink pipeline.Sink, cps pipeline.AssetCheckpoints, now time.Time, assets ...string) *observed {
	o := &observed{clock: &clock{t: now}, logs: &logLines{}, reg: prometheus.NewRegistry()}
	o.cfg = pipeline.Config{
		CompanyHandle: "c|6", Assets: assets,
		Source: src, Encoder: pipelinetest.JSONEncoder{}, Sink: sink, Checkpoints: cps,
		SourceRetry: policy(), SinkRetry: policy(),
		Fatal:   func(err error) bool { return errors.Is(err, errFatal) },
		Logger:  slog.New(slog.NewJSONHandler(o.logs, nil)),
		Metrics: pipeline.NewMetrics(o.reg),
		Now:     o.clock.Now,
	}
	return o
}

// poller returns a new Poller on the harness (a restart keeps the store).
func (o *observed) poller(t *testing.T) *pipeline.Poller {
	t.Helper()
	p, err := pipeline.NewPoller(o.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (o *observed) round(t *testing.T, p *pipeline.Poller, wantPublished int) {
	t.Helper()
	stats, err := p.RunOnce(context.Background())
	if err != nil || stats.Published != wantPublished {
		t.Fatalf("at %v: got %d published, %v; want %d, nil", o.clock.Now(), stats.Published, err, wantPublished)
	}
}

func TestFutureDatedEntryHidesNothing(t *testing.T) {
	now := t0
	src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
	src.add("a|1", "before", now.Add(-10*time.Minute))
	src.add("a|1", "nine hours ahead", now.Add(9*time.Hour))
	src.add("a|1", "slightly ahead, within the tolerance", now.Add(2*time.Minute))
	sink := &pipelinetest.Sink{}
	cps := pipelinetest.NewCheckpoints()
	o := newObserved(src, sink, cps, now, "a|1")
	p := o.poller(t)

	o.round(t, p, 3)

	// Entries with correct dates keep coming in the next rounds.
	o.clock.Set(now.Add(time.Minute))
	src.add("a|1", "correct date, next round", now.Add(30*time.Second))
	o.round(t, p, 1)
	o.clock.Set(now.Add(5 * time.Minute))
	src.add("a|1", "correct date, after a restart", now.Add(4*time.Minute))
	p = o.poller(t)
	o.round(t, p, 1)
	o.round(t, p, 0)

	// Then the clock moves past the future-dated entry, and beyond.
	for _, d := range []time.Duration{9*time.Hour + time.Minute, 10*time.Hour + time.Minute, 30 * time.Hour} {
		o.clock.Set(now.Add(d))
		src.add("a|1", "correct date at +"+d.String(), now.Add(d-30*time.Second))
		o.round(t, p, 1)
		o.round(t, p, 0)
	}

	ids := sink.EventIDs()
	if got, want := len(ids), 8; got != want {
		t.Fatalf("records: got %d, want %d (every entry once)", got, want)
	}
	if got := len(slices.Compact(slices.Sorted(slices.Values(ids)))); got != len(ids) {
		t.Fatalf("distinct ids: got %d of %d records", got, len(ids))
	}
	warnings := o.logs.withMessage(t, "entry dated in the future")
	if len(warnings) != 1 {
		t.Fatalf("future-dated warnings: got %d, want 1: %v", len(warnings), warnings)
	}
	w := warnings[0]
	if w["asset"] != "a|1" || w["log_date"] != now.Add(9*time.Hour).Format(time.RFC3339Nano) || w["observed_at"] != now.Format(time.RFC3339Nano) {
		t.Errorf("warning: got %v, want asset a|1, log_date %v, observed_at %v", w, now.Add(9*time.Hour), now)
	}
	if got, _ := metricValue(t, o.reg, "assetjoblog_future_dated_entries_total"); got != 1 {
		t.Errorf("assetjoblog_future_dated_entries_total: got %v, want 1", got)
	}
	cp, _ := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|1"})
	if limit := o.clock.Now().Add(-time.Hour); cp.Watermark.After(limit) {
		t.Errorf("watermark %v is past the clock minus the late window (%v)", cp.Watermark, limit)
	}
}

func TestWatermarkNeverPassesThePresent(t *testing.T) {
	log := []pipeline.AssetJobLog{
		pipelinetest.Entry("a|1", t0.Add(-time.Minute), "now"),
		pipelinetest.Entry("a|1", t0.Add(9*time.Hour), "future"),
	}
	pipeline.AssignEventIDs(log)
	cp := pipeline.AssetCheckpoint{}.Advance(log, time.Hour, t0)
	if got, want := cp.Watermark, t0.Add(-time.Hour); !got.Equal(want) {
		t.Fatalf("watermark: got %v, want the clock minus the window, %v", got, want)
	}
	if _, ok := cp.Recent[log[1].EventID]; !ok {
		t.Fatal("the future-dated entry is not tracked by id")
	}
	// Once the clock has passed it by the window, it is under the watermark.
	later := cp.Advance(nil, time.Hour, t0.Add(10*time.Hour+time.Minute))
	if got, want := later.Watermark, t0.Add(8*time.Hour); !got.Equal(want) {
		t.Fatalf("watermark later: got %v, want the newest date minus the window, %v", got, want)
	}
	next := []pipeline.AssetJobLog{pipelinetest.Entry("a|1", t0.Add(10*time.Hour), "next")}
	pipeline.AssignEventIDs(next)
	later = later.Advance(next, time.Hour, t0.Add(11*time.Hour))
	if _, ok := later.Recent[log[1].EventID]; ok {
		t.Fatal("the future-dated entry is still tracked once the watermark passed it")
	}
	if fresh := later.Unpublished(append(log, next...)); len(fresh) != 0 {
		t.Fatalf("unpublished after the clock passed: %v", messages(fresh))
	}
}
