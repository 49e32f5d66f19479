package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// exactlyOnce is a poller over topic with reconciliation on.
func exactlyOnce(t *testing.T, src pipeline.Source, topic *pipelinetest.Topic, cps *pipelinetest.Checkpoints, bounds pipeline.BoundCheckpoints, assets ...string) *pipeline.Poller {
	t.Helper()
	rc := &pipeline.ReconcileConfig{Reader: topic, Partitioner: topic}
	if bounds != nil {
		rc.Bounds = bounds
	}
	p, err := pipeline.NewPoller(pipeline.Config{
		CompanyHandle: "c|6", Assets: assets,
		Source: src, Encoder: pipelinetest.JSONEncoder{}, Sink: topic, Checkpoints: cps,
		SourceRetry: policy(), SinkRetry: policy(), Reconcile: rc,
		Fatal: func(err error) bool { return errors.Is(err, errFatal) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sourceOf serves n entries of asset; every third has the content of the
// one before it (distinct entries with identical content).
func sourceOf(asset string, n int) *scripted {
	src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
	for i := range n {
		at := t0.Add(time.Duration(i) * time.Minute)
		if i%3 == 2 {
			at = t0.Add(time.Duration(i-1) * time.Minute)
		}
		src.add(asset, "entry", at)
	}
	return src
}

func ids(records []pipeline.Record) []string {
	out := make([]string, len(records))
	for i, r := range records {
		out[i] = pipelinetest.EventID(r)
	}
	return out
}

// checkOnce fails t unless the topic holds each of want exactly once.
func checkOnce(t *testing.T, topic *pipelinetest.Topic, want int) {
	t.Helper()
	got := topic.EventIDs()
	distinct := slices.Compact(slices.Sorted(slices.Values(got)))
	if len(got) != want || len(distinct) != want {
		t.Fatalf("topic holds %d records, %d distinct; want %d, each once", len(got), len(distinct), want)
	}
}

func TestPublishTimeoutAfterAppendIsNotSentAgain(t *testing.T) {
	topic := pipelinetest.NewTopic(3)
	topic.Fault = func(call int, _ []pipeline.Record) (int, error) {
		if call == 0 {
			return -1, retryableErr{} // every record appended, then a timeout
		}
		return -1, nil
	}
	p := exactlyOnce(t, sourceOf("a|1", 9), topic, pipelinetest.NewCheckpoints(), nil, "a|1")
	stats, err := p.RunOnce(context.Background())
	if err != nil || stats.Published != 9 {
		t.Fatalf("round: %d published, %v; want 9, nil", stats.Published, err)
	}
	if calls := topic.Calls(); len(calls) != 1 {
		t.Errorf("Publish calls: got %d, want 1 (the retry found every record on the topic)", len(calls))
	}
	checkOnce(t, topic, 9)
}

func TestPublishHalfAppendedSendsTheOtherHalf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		outcomes bool // the error reports each record's outcome
	}{
		{"outcomes reported", true},
		{"outcome unknown", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := pipelinetest.NewTopic(3)
			topic.Fault = func(call int, recs []pipeline.Record) (int, error) {
				if call > 0 {
					return -1, nil
				}
				half := len(recs) / 2
				if !tc.outcomes {
					return half, retryableErr{}
				}
				o := make([]pipeline.PublishOutcome, len(recs))
				for i := range o {
					if i < half {
						o[i] = pipeline.OutcomeWritten
					}
				}
				return half, &pipelinetest.OutcomeError{Outcomes: o, Err: retryableErr{}}
			}
			p := exactlyOnce(t, sourceOf("a|1", 10), topic, pipelinetest.NewCheckpoints(), nil, "a|1")
			if _, err := p.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			calls := topic.Calls()
			if len(calls) != 2 {
				t.Fatalf("Publish calls: got %d, want 2", len(calls))
			}
			if got, want := ids(calls[1]), ids(calls[0])[5:]; !slices.Equal(got, want) {
				t.Errorf("the retry sent %v, want exactly the other half %v", got, want)
			}
			checkOnce(t, topic, 10)
		})
	}
}

func TestPublishProvenNotWrittenIsSentAgainWithoutReadingBack(t *testing.T) {
	topic := pipelinetest.NewTopic(1)
	topic.Fault = func(call int, recs []pipeline.Record) (int, error) {
		if call > 0 {
			return -1, nil
		}
		o := make([]pipeline.PublishOutcome, len(recs))
		for i := range o {
			o[i] = pipeline.OutcomeNotWritten
		}
		return 0, &pipelinetest.OutcomeError{Outcomes: o, Err: retryableErr{}}
	}
	p := exactlyOnce(t, sourceOf("a|1", 4), topic, pipelinetest.NewCheckpoints(), nil, "a|1")
	if _, err := p.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := topic.Tails(); got != 0 {
		t.Errorf("partition read back %d times, want 0 (nothing was appended)", got)
	}
	if calls := topic.Calls(); len(calls) != 2 || len(calls[1]) != 4 {
		t.Errorf("Publish calls: got %d, want 2 with the whole batch again", len(calls))
	}
	checkOnce(t, topic, 4)
}

func TestCrashBetweenPublishAndCommitIsReconciledAtStart(t *testing.T) {
	ctx := context.Background()
	src := sourceOf("a|1", 6)
	src.add("a|2", "other", t0)
	topic := pipelinetest.NewTopic(2)
	cps := pipelinetest.NewCheckpoints()
	bounds := cps
	// A first run publishes a few entries and commits them.
	if _, err := exactlyOnce(t, src, topic, cps, bounds, "a|1", "a|2").RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	// A second run publishes new entries, then dies before committing.
	src.add("a|1", "after", t0.Add(time.Hour))
	src.add("a|2", "after", t0.Add(time.Hour))
	cps.PutErr = errors.New("killed before commit")
	if _, err := exactlyOnce(t, src, topic, cps, bounds, "a|1", "a|2").RunOnce(ctx); err == nil {
		t.Fatal("round with a failing commit succeeded")
	}
	cps.PutErr = nil
	restarted := exactlyOnce(t, src, topic, cps, bounds, "a|1", "a|2")
	stats, err := restarted.Reconcile(ctx, []int32{0, 1})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Found < 1 || stats.RecordsRead > 2 {
		t.Errorf("start-up read back %d records and found %d entries; want at most the 2 uncommitted, at least one found", stats.RecordsRead, stats.Found)
	}
	before := len(topic.EventIDs())
	s, err := restarted.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The killed run may have stopped the other asset before it published:
	// only that is published now.
	if got := before + s.Published; got != 9 {
		t.Errorf("after the restart: %d records on the topic + %d published, want 9", before, s.Published)
	}
	checkOnce(t, topic, 9)
}

func TestBoundsFollowTheTopicEnd(t *testing.T) {
	ctx := context.Background()
	topic := pipelinetest.NewTopic(1)
	cps := pipelinetest.NewCheckpoints()
	bounds := cps
	src := sourceOf("a|1", 5)
	if _, err := exactlyOnce(t, src, topic, cps, bounds, "a|1").RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _, err := bounds.LoadBound("c|6", 0); err != nil || got != 5 {
		t.Errorf("bound of partition 0 after a round: got %d (%v), want 5 (the end: nothing uncommitted)", got, err)
	}
	stats, err := exactlyOnce(t, src, topic, cps, bounds, "a|1").Reconcile(ctx, []int32{0})
	if err != nil || stats.RecordsRead != 0 {
		t.Errorf("a restart read back %d records (%v), want 0", stats.RecordsRead, err)
	}
}

func TestUnreadableTopicStopsBeforePublishing(t *testing.T) {
	topic := pipelinetest.NewTopic(1)
	topic.ReadErr = errors.Join(errFatal, errors.New("topic authorization failed"))
	cps := pipelinetest.NewCheckpoints()
	_ = cps.CommitBound("c|6", 0, 0)
	_, err := exactlyOnce(t, sourceOf("a|1", 3), topic, cps, cps, "a|1").RunOnce(context.Background())
	if err == nil {
		t.Fatal("round succeeded while the topic could not be read back")
	}
	if len(topic.Calls()) != 0 {
		t.Errorf("published %d batches without reading the topic back, want none", len(topic.Calls()))
	}
}

// A batch the broker refuses in part as too large, after accepting the
// rest: the records it acknowledged are not sent again when the others are
// retried one by one.
func TestTooLargeAfterPartialAppendSendsNothingTwice(t *testing.T) {
	src := sourceOf("a|1", 6)
	topic := pipelinetest.NewTopic(1)
	var big string // the event id of the record the broker refuses
	topic.Fault = func(call int, recs []pipeline.Record) (int, error) {
		if call > 0 {
			if len(recs) == 1 && pipelinetest.EventID(recs[0]) == big {
				return 0, fmt.Errorf("[10] Message Size Too Large: %w", pipeline.ErrRecordTooLarge)
			}
			return -1, nil
		}
		// The first three land; the batch holding the fourth is refused.
		big = pipelinetest.EventID(recs[3])
		o := make([]pipeline.PublishOutcome, len(recs))
		for i := range o {
			if i < 3 {
				o[i] = pipeline.OutcomeWritten
			} else {
				o[i] = pipeline.OutcomeNotWritten
			}
		}
		return 3, &pipelinetest.OutcomeError{Outcomes: o, Err: fmt.Errorf("[10] Message Size Too Large: %w", pipeline.ErrRecordTooLarge)}
	}
	p := exactlyOnce(t, src, topic, pipelinetest.NewCheckpoints(), nil, "a|1")
	if _, err := p.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Five of the six are on the topic, each once; the fourth is a dead letter.
	checkOnce(t, topic, 5)
}
