package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// noJobs is a JobSource of a company whose only recent jobs are running
// (and touch no asset); it records the windows asked for.
type noJobs struct {
	starts  []time.Time
	running []pipeline.Job
}

func (n *noJobs) JobLogs(_ context.Context, _ string, start, _ time.Time, _ int) ([]pipeline.Job, error) {
	n.starts = append(n.starts, start)
	return append([]pipeline.Job{}, n.running...), nil
}
func (*noJobs) JobAssetsFrom(_ context.Context, _, _ string, from int) ([]string, int, error) {
	return nil, from, nil
}

func TestBackfillStateRoundTrip(t *testing.T) {
	st := pipelinetest.NewState()
	cps := pipeline.NewCheckpoints(st)
	want := pipeline.BackfillCheckpoint{Started: time.UnixMilli(1_700_000_000_123).UTC(), Done: 12_345, LastHandle: "a|6|1|12344"}
	if err := cps.CommitBackfill("c|6", "", want); err != nil {
		t.Fatal(err)
	}
	got, err := cps.LoadBackfill("c|6", "")
	if err != nil || got != want {
		t.Fatalf("got %+v (%v), want %+v", got, err, want)
	}
	key := pipeline.StateKey{Kind: pipeline.StateBackfill, Company: "c|6"}
	v, _ := st.Get(key)
	if err := pipeline.VerifyStateValue(key, v); err != nil {
		t.Errorf("verify: %v", err)
	}
	for i := range v {
		bad := append([]byte(nil), v...)
		bad[i] ^= 0x10
		if err := pipeline.VerifyStateValue(key, bad); err == nil {
			t.Errorf("a flipped bit at byte %d went unnoticed", i)
		}
	}
	if err := st.Put(key, v[:len(v)-1]); err != nil {
		t.Fatal(err)
	}
	if _, err := cps.LoadBackfill("c|6", ""); !errors.Is(err, pipeline.ErrCorruptState) {
		t.Errorf("truncated value: got %v, want ErrCorruptState", err)
	}
}

func TestDiscoveryStateKeepsRowCursors(t *testing.T) {
	st := pipelinetest.NewState()
	cps := pipeline.NewCheckpoints(st)
	want := pipeline.DiscoveryCheckpoint{Cursor: time.UnixMilli(1_700_000_000_000).UTC(), Done: map[string]int64{"j|1": 7},
		Rows: map[string]int{"j|2": 20_000, "j|3": 0}}
	if err := cps.CommitDiscovery("c|6", want); err != nil {
		t.Fatal(err)
	}
	got, err := cps.LoadDiscovery("c|6")
	if err != nil || !got.Cursor.Equal(want.Cursor) || got.Done["j|1"] != 7 || len(got.Rows) != 2 || got.Rows["j|2"] != 20_000 {
		t.Fatalf("got %+v (%v), want %+v", got, err, want)
	}
	key := pipeline.StateKey{Kind: pipeline.StateDiscovery, Company: "c|6"}
	v, _ := st.Get(key)
	for i := range v {
		bad := append([]byte(nil), v...)
		bad[i] ^= 0x01
		if err := pipeline.VerifyStateValue(key, bad); err == nil {
			t.Errorf("a flipped bit at byte %d went unnoticed", i)
		}
	}
}

func TestBackfillResumesWhereItStopped(t *testing.T) {
	ctx := context.Background()
	cat := &pagedCatalog{handles: handles(2500)}
	src, polled := countingSource()
	cps := pipelinetest.NewCheckpoints()
	sink := &pipelinetest.Sink{}
	stop := errors.New("broker gone for good")
	published := 0
	sink.Fail = func(r []pipeline.Record) error {
		if published >= 1500 {
			return stop
		}
		published += len(r)
		return nil
	}
	clock := t0
	reg := prometheus.NewRegistry()
	metrics := pipeline.NewMetrics(reg)
	// A job that started two hours before the backfill and is still
	// running: discovery must list it after the backfill.
	jobs := &noJobs{running: []pipeline.Job{{JobHandle: "j|6||long|1", StartDate: t0.Add(-2 * time.Hour)}}}
	newPoller := func() *pipeline.Poller {
		p, err := pipeline.NewPoller(pipeline.Config{
			CompanyHandle: "c|6", Catalog: cat, CatalogPageSize: 1000,
			Discovery: &pipeline.DiscoveryConfig{Jobs: jobs, Checkpoints: cps, Backfill: cps, Overlap: time.Minute},
			Source:    src, Encoder: pipelinetest.JSONEncoder{}, Sink: sink, Checkpoints: cps,
			Concurrency: 1, Fatal: func(err error) bool { return errors.Is(err, stop) },
			Now: func() time.Time { return clock }, Metrics: metrics,
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := newPoller().RunOnce(ctx); !errors.Is(err, stop) {
		t.Fatalf("first run: got %v, want it stopped by the sink", err)
	}
	// Assets finish out of order; the progress is the prefix of the
	// listing whose assets are all done.
	bf, _ := cps.LoadBackfill("c|6", "")
	if bf.Done < 1000 || bf.Done > 1500 || bf.LastHandle != handles(2500)[bf.Done-1] || bf.Complete || !bf.Started.Equal(t0.Add(-2*time.Hour)) {
		t.Fatalf("progress after the stop: %+v, want between 1000 and 1500 assets done", bf)
	}
	doneBefore := bf.Done

	sink.Fail = nil
	clock = t0.Add(time.Hour)
	st, err := newPoller().RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Assets != 2500-doneBefore {
		t.Errorf("resumed run worked on %d assets, want the %d not done", st.Assets, 2500-doneBefore)
	}
	for i, h := range handles(2500) {
		// Assets done after the progress's prefix are redone; their
		// entries are not published twice.
		if got := polled(h); (i < doneBefore && got != 1) || got < 1 || got > 2 {
			t.Fatalf("asset %d polled %d times", i, got)
		}
	}
	if ids := sink.EventIDs(); len(ids) != 2500 {
		t.Errorf("published %d entries, want 2500 (every asset's one entry once)", len(ids))
	}
	for name, want := range map[string]float64{
		"assetjoblog_backfill_assets_done": 2500, "assetjoblog_backfill_assets_total": 2500, "assetjoblog_catalog_assets": 2500,
	} {
		if got := gauge(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	bf, _ = cps.LoadBackfill("c|6", "")
	if !bf.Complete || bf.Done != 2500 {
		t.Errorf("after the backfill: %+v, want complete", bf)
	}
	want := []time.Time{t0.Add(-24 * time.Hour), t0.Add(-2*time.Hour - time.Minute)}
	if len(jobs.starts) != 2 || !jobs.starts[0].Equal(want[0]) || !jobs.starts[1].Equal(want[1]) {
		t.Errorf("listed jobs from %v, want from %v (the running jobs at the backfill's start), then from the oldest "+
			"running job's start minus the overlap, %v", jobs.starts, want[0], want[1])
	}

	cat.calls = 0
	if _, err := newPoller().RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if cat.calls != 0 {
		t.Errorf("a run after the backfill made %d searchAssets calls, want 0", cat.calls)
	}
}

// gauge returns the value of an unlabelled gauge of reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestBackfillPartsMoveBetweenReplicas: two replicas share a state and split
// the catalog into two parts; each backfills the part it owns, and a part
// that moves is resumed by its new owner where the old one stopped.
func TestBackfillPartsMoveBetweenReplicas(t *testing.T) {
	ctx := context.Background()
	all := handles(3000)
	cat := &pagedCatalog{handles: all}
	part := func(a string) string {
		n, _ := strconv.Atoi(a[len("a|6|1|"):])
		return "p" + strconv.Itoa(n%2)
	}
	src, polled := countingSource()
	cps := pipelinetest.NewCheckpoints()
	sink := &pipelinetest.Sink{}
	stop := errors.New("replica stopped")
	replica := func(owned ...string) *pipeline.Poller {
		owns := func(a string) bool { return slices.Contains(owned, part(a)) }
		p, err := pipeline.NewPoller(pipeline.Config{
			CompanyHandle: "c|6", Catalog: cat, Owns: owns,
			Discovery: &pipeline.DiscoveryConfig{Jobs: &noJobs{}, Checkpoints: cps, Backfill: cps,
				BackfillParts: func() []string { return owned }, BackfillPart: part},
			Source: src, Encoder: pipelinetest.JSONEncoder{}, Sink: sink, Checkpoints: cps,
			Concurrency: 1, Fatal: func(err error) bool { return errors.Is(err, stop) },
			Now: func() time.Time { return t0 },
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, err := replica("p0").RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if bf, _ := cps.LoadBackfill("c|6", "p0"); !bf.Complete || bf.Done != 1500 {
		t.Errorf("part p0 after its owner's run: %+v, want complete with 1500 assets", bf)
	}
	if bf, _ := cps.LoadBackfill("c|6", "p1"); bf.Done != 0 || bf.Complete {
		t.Errorf("part p1 before any owner ran: %+v, want untouched", bf)
	}
	// The owner of p1 stops part-way: after 700 entries, and once the
	// first asset of p1 is committed. Progress is the prefix of p1's assets
	// done in order, and the first one's goroutine may be scheduled after
	// hundreds of others (nothing here waits on I/O); without it done, the
	// progress is rightly 0 and there would be nothing to resume.
	first := pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: all[1]}
	published := 0
	sink.Fail = func(r []pipeline.Record) error {
		if published >= 700 {
			if cp, err := cps.LoadAsset(first); err == nil && len(cp.Recent) > 0 {
				return stop
			}
		}
		published += len(r)
		return nil
	}
	if _, err := replica("p1").RunOnce(ctx); !errors.Is(err, stop) {
		t.Fatalf("p1's owner: got %v, want it stopped", err)
	}
	stopped, _ := cps.LoadBackfill("c|6", "p1")
	if stopped.Done == 0 || stopped.Complete {
		t.Fatalf("part p1 after its owner stopped: %+v, want some progress", stopped)
	}
	sink.Fail = nil
	// p1 moves to the first replica, which resumes it.
	if _, err := replica("p0", "p1").RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	for i, h := range all {
		got := polled(h)
		switch {
		case i%2 == 0 && got != 1:
			t.Fatalf("asset %d of p0 polled %d times, want once", i, got)
		case i%2 == 1 && i/2 < stopped.Done && got != 1:
			t.Fatalf("asset %d of p1, done before the move, polled %d times, want once", i, got)
		case got < 1 || got > 2:
			t.Fatalf("asset %d polled %d times", i, got)
		}
	}
	if bf, _ := cps.LoadBackfill("c|6", "p1"); !bf.Complete || bf.Done != 1500 {
		t.Errorf("part p1 after the move: %+v, want complete", bf)
	}
	if ids := sink.EventIDs(); len(ids) != 3000 {
		t.Errorf("published %d entries, want 3000", len(ids))
	}
}
