package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func TestAssignEventIDs(t *testing.T) {
	a := pipelinetest.Entry("a|1", t0, "processed")
	b := a
	b.LogMessage = "other"
	dup := a
	log := []pipeline.AssetJobLog{a, b, dup}
	pipeline.AssignEventIDs(log)
	if log[0].EventID == log[1].EventID || log[0].EventID == log[2].EventID || log[1].EventID == log[2].EventID {
		t.Fatalf("ids not distinct: %q %q %q", log[0].EventID, log[1].EventID, log[2].EventID)
	}
	again := []pipeline.AssetJobLog{a, b, dup}
	again[0].SubmitUserEmail = "changed@example.com" // not part of the recipe
	pipeline.AssignEventIDs(again)
	for i := range log {
		if got, want := again[i].EventID, log[i].EventID; got != want {
			t.Errorf("entry %d: got %q on a second poll, want %q", i, got, want)
		}
	}
	if got, want := len(log[0].EventID), 32; got != want {
		t.Errorf("id length: got %d, want %d", got, want)
	}
	// Pinned: changing the recipe changes every id downstream.
	if got, want := log[0].EventID, pinnedEventID; got != want {
		t.Errorf("recipe changed: got %q, want %q", got, want)
	}
}

// pinnedEventID was computed independently of this code (Python hashlib over the documented recipe).
var errFatal = errors.New("fatal")

const pinnedEventID = "3839d55f78ea025699987629f9414a48"

func TestCheckpointDedup(t *testing.T) {
	log := []pipeline.AssetJobLog{
		pipelinetest.Entry("a|1", t0.Add(2*time.Hour), "late"),
		pipelinetest.Entry("a|1", t0, "first"),
		pipelinetest.Entry("a|1", t0.Add(3*time.Hour), "newest"),
	}
	pipeline.AssignEventIDs(log)
	var cp pipeline.AssetCheckpoint
	fresh := cp.Unpublished(log)
	if got := messages(fresh); !slices.Equal(got, []string{"first", "late", "newest"}) {
		t.Fatalf("first poll: got %v, want all in logDate order", got)
	}
	cp = cp.Advance(fresh, time.Hour, t0.Add(24*time.Hour))
	if got, want := cp.Watermark, t0.Add(2*time.Hour); !got.Equal(want) {
		t.Errorf("watermark: got %v, want %v", got, want)
	}
	if got, want := len(cp.Recent), 1; got != want {
		t.Errorf("recent ids kept: got %d, want %d (only those after the watermark)", got, want)
	}
	if got := cp.Unpublished(log); len(got) != 0 {
		t.Fatalf("second poll: got %v, want nothing", messages(got))
	}
	log = append(log,
		pipelinetest.Entry("a|1", t0.Add(2*time.Hour+30*time.Minute), "arrived late inside the window"),
		pipelinetest.Entry("a|1", t0.Add(4*time.Hour), "new"))
	pipeline.AssignEventIDs(log)
	if got := messages(cp.Unpublished(log)); !slices.Equal(got, []string{"arrived late inside the window", "new"}) {
		t.Fatalf("third poll: got %v", got)
	}
}

func messages(log []pipeline.AssetJobLog) []string {
	var out []string
	for _, e := range log {
		out = append(out, e.LogMessage)
	}
	return out
}

type retryableErr struct{ after time.Duration }

func (e retryableErr) Error() string { return "try again" }

func policy() pipeline.RetryPolicy {
	return pipeline.RetryPolicy{
		Retryable: func(err error) bool { var r retryableErr; return errors.As(err, &r) },
		Delay: func(err error) (time.Duration, bool) {
			var r retryableErr
			return r.after, errors.As(err, &r) && r.after > 0
		},
		InitialInterval: time.Millisecond,
		MaxInterval:     5 * time.Millisecond,
		MaxElapsed:      200 * time.Millisecond,
	}
}

func TestRetryPolicy(t *testing.T) {
	ctx := context.Background()
	t.Run("transient errors are retried until success", func(t *testing.T) {
		calls := 0
		err := policy().Do(ctx, func(context.Context) error {
			calls++
			if calls < 3 {
				return retryableErr{}
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("got %v after %d calls, want success after 3", err, calls)
		}
	})
	t.Run("permanent error stops at once", func(t *testing.T) {
		calls := 0
		perm := errors.New("bad password")
		err := policy().Do(ctx, func(context.Context) error { calls++; return perm })
		if !errors.Is(err, perm) || calls != 1 {
			t.Fatalf("got %v after %d calls, want the permanent error after 1", err, calls)
		}
	})
	t.Run("gives up after MaxElapsed", func(t *testing.T) {
		err := policy().Do(ctx, func(context.Context) error { return retryableErr{} })
		if !errors.Is(err, pipeline.ErrRetriesExhausted) {
			t.Fatalf("got %v, want ErrRetriesExhausted", err)
		}
	})
	t.Run("waits at least Retry-After", func(t *testing.T) {
		var waits []time.Duration
		p := policy()
		p.OnRetry = func(_ error, d time.Duration) { waits = append(waits, d) }
		calls := 0
		_ = p.Do(ctx, func(context.Context) error {
			calls++
			if calls == 1 {
				return retryableErr{after: 20 * time.Millisecond}
			}
			return nil
		})
		if len(waits) != 1 || waits[0] < 20*time.Millisecond {
			t.Fatalf("got waits %v, want one of at least 20ms", waits)
		}
	})
	t.Run("context cancel ends the wait", func(t *testing.T) {
		ctx, cancel := context.WithCancel(ctx)
		p := policy()
		p.MaxElapsed = -1
		p.OnRetry = func(error, time.Duration) { cancel() }
		err := p.Do(ctx, func(context.Context) error { return retryableErr{after: time.Hour} })
		if err == nil || ctx.Err() == nil {
			t.Fatalf("got %v, want the error once ctx is cancelled", err)
		}
	})
}

// scripted is a source whose logs tests change between rounds.
type scripted struct {
	mu   sync.Mutex
	logs map[string][]pipeline.AssetJobLog
	bad  map[string][]pipeline.BadEntry
	fail map[string][]error // errors returned by the next calls for an asset
	// delay, when set, is called (under the lock) at each call, e.g. to
	// advance a test clock.
	delay func()
}

func (s *scripted) AssetJobLogs(_ context.Context, company, asset string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delay != nil {
		s.delay()
	}
	if errs := s.fail[asset]; len(errs) > 0 {
		s.fail[asset] = errs[1:]
		return nil, nil, errs[0]
	}
	return slices.Clone(s.logs[asset]), slices.Clone(s.bad[asset]), nil
}

func (s *scripted) add(asset, msg string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs[asset] = append(s.logs[asset], pipelinetest.Entry(asset, at, msg))
}

func newPoller(t *testing.T, src pipeline.Source, sink pipeline.Sink, cps *pipelinetest.Checkpoints, assets ...string) *pipeline.Poller {
	t.Helper()
	p, err := pipeline.NewPoller(pipeline.Config{
		CompanyHandle: "c|6", Assets: assets,
		Source: src, Encoder: pipelinetest.JSONEncoder{}, Sink: sink, Checkpoints: cps,
		SourceRetry: policy(), SinkRetry: policy(),
		Fatal: func(err error) bool { return errors.Is(err, errFatal) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPollerPublishesEachEntryOnce(t *testing.T) {
	ctx := context.Background()
	src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
	for i := 0; i < 5; i++ {
		src.add("a|1", "one", t0.Add(time.Duration(i)*time.Minute))
		src.add("a|2", "two", t0.Add(time.Duration(i)*time.Second))
	}
	sink := &pipelinetest.Sink{}
	cps := pipelinetest.NewCheckpoints()
	p := newPoller(t, src, sink, cps, "a|1", "a|2", "a|3")

	stats, err := p.RunOnce(ctx)
	if err != nil || stats.Published != 10 {
		t.Fatalf("first round: got %d published, %v; want 10, nil", stats.Published, err)
	}
	if stats, err := p.RunOnce(ctx); err != nil || stats.Published != 0 {
		t.Fatalf("second round: got %d published, %v; want 0, nil", stats.Published, err)
	}
	src.add("a|2", "new", t0.Add(time.Hour))
	if stats, err := p.RunOnce(ctx); err != nil || stats.Published != 1 {
		t.Fatalf("third round: got %d published, %v; want 1, nil", stats.Published, err)
	}
	restarted := newPoller(t, src, sink, cps, "a|1", "a|2", "a|3")
	if stats, err := restarted.RunOnce(ctx); err != nil || stats.Published != 0 {
		t.Fatalf("after restart: got %d published, %v; want 0, nil", stats.Published, err)
	}
	ids := sink.EventIDs()
	if got, want := len(ids), 11; got != want {
		t.Fatalf("records: got %d, want %d", got, want)
	}
	if got := len(slices.Compact(slices.Sorted(slices.Values(ids)))); got != 11 {
		t.Fatalf("distinct ids: got %d, want 11", got)
	}
}

func TestPollerCrashBetweenPublishAndCommit(t *testing.T) {
	ctx := context.Background()
	src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
	for i := 0; i < 4; i++ {
		src.add("a|1", "entry", t0.Add(time.Duration(i)*time.Minute))
	}
	sink := &pipelinetest.Sink{}
	cps := pipelinetest.NewCheckpoints()
	cps.PutErr = errors.New("killed before commit")
	if _, err := newPoller(t, src, sink, cps, "a|1").RunOnce(ctx); err == nil {
		t.Fatal("round with a failing commit succeeded")
	}
	first := sink.EventIDs()
	cps.PutErr = nil
	if _, err := newPoller(t, src, sink, cps, "a|1").RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	all := sink.EventIDs()
	if got, want := len(all), 2*len(first); got != want {
		t.Fatalf("records after rerun: got %d, want %d (the uncommitted batch again)", got, want)
	}
	if !slices.Equal(all[:len(first)], all[len(first):]) {
		t.Fatalf("rerun published other ids: %v vs %v", all[:len(first)], all[len(first):])
	}
}

func TestPollerErrors(t *testing.T) {
	ctx := context.Background()
	t.Run("transient source errors are retried and nothing is lost", func(t *testing.T) {
		src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{"a|1": {retryableErr{}, retryableErr{}}}}
		src.add("a|1", "x", t0)
		sink := &pipelinetest.Sink{}
		stats, err := newPoller(t, src, sink, pipelinetest.NewCheckpoints(), "a|1").RunOnce(ctx)
		if err != nil || stats.Published != 1 || stats.AssetCalls != 3 {
			t.Fatalf("got %+v, %v; want 1 published after 3 calls", stats, err)
		}
	})
	t.Run("persisting transient error leaves the round incomplete", func(t *testing.T) {
		src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{"a|1": slices.Repeat([]error{retryableErr{}}, 1000)}}
		src.add("a|2", "x", t0)
		sink := &pipelinetest.Sink{}
		stats, err := newPoller(t, src, sink, pipelinetest.NewCheckpoints(), "a|1", "a|2").RunOnce(ctx)
		if !errors.Is(err, pipeline.ErrIncomplete) || stats.AssetsFailed != 1 || stats.Published != 1 {
			t.Fatalf("got %+v, %v; want ErrIncomplete with a|2 published", stats, err)
		}
	})
	t.Run("non-retryable asset error fails only that asset", func(t *testing.T) {
		src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{"a|1": {errors.New("malformed response")}}}
		src.add("a|2", "x", t0)
		stats, err := newPoller(t, src, &pipelinetest.Sink{}, pipelinetest.NewCheckpoints(), "a|1", "a|2").RunOnce(ctx)
		if !errors.Is(err, pipeline.ErrIncomplete) || stats.AssetCalls != 2 || stats.Published != 1 {
			t.Fatalf("got %+v, %v; want ErrIncomplete after one call for a|1 and a|2 published", stats, err)
		}
	})
	t.Run("fatal source error stops the round", func(t *testing.T) {
		perm := fmt.Errorf("authentication fault 10001: %w", errFatal)
		src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{"a|1": {perm}}}
		_, err := newPoller(t, src, &pipelinetest.Sink{}, pipelinetest.NewCheckpoints(), "a|1").RunOnce(ctx)
		if !errors.Is(err, perm) || errors.Is(err, pipeline.ErrIncomplete) {
			t.Fatalf("got %v, want the permanent error", err)
		}
	})
	t.Run("sink outage is retried until it recovers", func(t *testing.T) {
		src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
		src.add("a|1", "x", t0)
		failures := 3
		sink := &pipelinetest.Sink{Fail: func([]pipeline.Record) error {
			if failures > 0 {
				failures--
				return retryableErr{}
			}
			return nil
		}}
		stats, err := newPoller(t, src, sink, pipelinetest.NewCheckpoints(), "a|1").RunOnce(ctx)
		if err != nil || stats.Published != 1 || len(sink.Records()) != 1 {
			t.Fatalf("got %+v, %v, %d records; want 1 published", stats, err, len(sink.Records()))
		}
	})
}

func TestCheckpointStaysBoundedAsLogsGrow(t *testing.T) {
	var cp pipeline.AssetCheckpoint
	var log []pipeline.AssetJobLog
	for round := 0; round < 500; round++ {
		// Three entries a minute; the log only grows.
		for k := 0; k < 3; k++ {
			log = append(log, pipelinetest.Entry("a|1", t0.Add(time.Duration(round)*time.Minute+time.Duration(k)*time.Second), "e"))
		}
		pipeline.AssignEventIDs(log)
		fresh := cp.Unpublished(log)
		if len(fresh) != 3 {
			t.Fatalf("round %d: %d unpublished entries, want the 3 new ones", round, len(fresh))
		}
		cp = cp.Advance(fresh, 10*time.Minute, t0.Add(time.Duration(round+1)*time.Minute))
	}
	if got, limit := len(cp.Recent), 3*11; got > limit {
		t.Fatalf("checkpoint holds %d ids after 1,500 entries, want at most %d (the late window's worth)", got, limit)
	}
}

// blockingSink publishes only when released, to hold assets in flight.
type blockingSink struct {
	pipelinetest.Sink
	started chan struct{}
	release chan struct{}
}

func (s *blockingSink) Publish(ctx context.Context, records []pipeline.Record) error {
	s.started <- struct{}{}
	select {
	case <-s.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return s.Sink.Publish(ctx, records)
}

func TestShutdownLetsInFlightAssetsFinish(t *testing.T) {
	src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
	var assets []string
	for i := 0; i < 20; i++ {
		a := fmt.Sprintf("a|%d", i)
		assets = append(assets, a)
		src.add(a, "x", t0)
	}
	newP := func(sink pipeline.Sink, cps *pipelinetest.Checkpoints, timeout time.Duration) *pipeline.Poller {
		p, err := pipeline.NewPoller(pipeline.Config{
			CompanyHandle: "c|6", Assets: assets, Source: src, Encoder: pipelinetest.JSONEncoder{}, Sink: sink,
			Checkpoints: cps, Concurrency: 1, ShutdownTimeout: timeout, SourceRetry: policy(), SinkRetry: policy(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("within the timeout in-flight work is published and committed", func(t *testing.T) {
		sink := &blockingSink{started: make(chan struct{}, 20), release: make(chan struct{})}
		cps := pipelinetest.NewCheckpoints()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan pipeline.RoundStats)
		go func() { st, _ := newP(sink, cps, time.Minute).RunOnce(ctx); done <- st }()
		<-sink.started // one asset is publishing
		cancel()
		close(sink.release)
		st := <-done
		if st.Published < 1 || st.Published >= len(assets) {
			t.Fatalf("published %d: want the in-flight assets only, not the whole round", st.Published)
		}
		committed := 0
		for _, a := range assets {
			cp, _ := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: a})
			if len(cp.Recent) > 0 || !cp.Watermark.IsZero() {
				committed++
			}
		}
		if committed != st.Published {
			t.Fatalf("committed %d assets, published %d: every finished asset must be committed", committed, st.Published)
		}
	})

	t.Run("past the timeout in-flight work is abandoned uncommitted", func(t *testing.T) {
		sink := &blockingSink{started: make(chan struct{}, 20), release: make(chan struct{})}
		cps := pipelinetest.NewCheckpoints()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { _, err := newP(sink, cps, 50*time.Millisecond).RunOnce(ctx); done <- err }()
		<-sink.started
		cancel()
		if err := <-done; err == nil {
			t.Fatal("RunOnce returned nil after abandoning work")
		}
		if got := len(sink.Records()); got != 0 {
			t.Fatalf("%d records published, want none", got)
		}
		cp, _ := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|0"})
		if len(cp.Recent) != 0 || !cp.Watermark.IsZero() {
			t.Fatal("an abandoned asset was committed")
		}
	})
}
