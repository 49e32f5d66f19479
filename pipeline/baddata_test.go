package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// badFragment is a malformed entry as a source reports it.
func badFragment(position int, date string) pipeline.BadEntry {
	raw := `<ns1:items><ns1:jobHandle>j|6||Add</ns1:jobHandle><ns1:submitUserEmail>someone@example.com</ns1:submitUserEmail><ns1:logDate>` + date + `</ns1:logDate></ns1:items>`
	return pipeline.NewBadEntry(position, fmt.Sprintf("jobLogArray.items[%d].logDate", position), fmt.Sprintf("unparsable dateTime %q", date), []byte(raw))
}

// header returns the value of a record's header.
func header(r pipeline.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// deadLetters decodes the dead letters a sink received.
func deadLetters(t *testing.T, sink *pipelinetest.Sink) []pipeline.DeadLetter {
	t.Helper()
	var out []pipeline.DeadLetter
	for _, r := range sink.Records() {
		var d pipeline.DeadLetter
		if err := json.Unmarshal(r.Value, &d); err != nil {
			t.Fatalf("dead letter %q: %v", r.Value, err)
		}
		if got := string(r.Key); got != d.AssetHandle {
			t.Errorf("dead letter key %q, want the asset handle %q", got, d.AssetHandle)
		}
		if header(r, pipeline.HeaderDeadLetterReason) != string(d.Reason) || header(r, pipeline.HeaderEventID) != d.ID ||
			header(r, pipeline.HeaderContentType) != pipeline.DeadLetterContentType || header(r, pipeline.HeaderDeadLetterError) == "" {
			t.Errorf("dead letter headers %v do not match its value %+v", r.Headers, d)
		}
		out = append(out, d)
	}
	return out
}

func checkPublishedOnce(t *testing.T, sink *pipelinetest.Sink, want int) {
	t.Helper()
	ids := sink.EventIDs()
	if len(ids) != want {
		t.Fatalf("records: got %d, want %d", len(ids), want)
	}
	if got := len(slices.Compact(slices.Sorted(slices.Values(ids)))); got != want {
		t.Fatalf("distinct ids: got %d of %d", got, want)
	}
}

func TestMalformedEntryIsDeadLetteredOnce(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, withTopic := range []bool{true, false} {
		name := "to the dead-letter topic"
		if !withTopic {
			name = "to the error log without a dead-letter topic"
		}
		t.Run(name, func(t *testing.T) {
			src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, bad: map[string][]pipeline.BadEntry{}, fail: map[string][]error{}}
			for i := 0; i < 4; i++ {
				src.add("a|1", fmt.Sprintf("good %d", i), t0.Add(time.Duration(i)*time.Minute))
			}
			bad := badFragment(4, "31/11/2026 25:61")
			src.bad["a|1"] = []pipeline.BadEntry{bad}
			src.add("a|2", "other asset", t0)
			sink, dlq := &pipelinetest.Sink{}, &pipelinetest.Sink{}
			cps := pipelinetest.NewCheckpoints()
			o := newObserved(src, sink, cps, now, "a|1", "a|2")
			if withTopic {
				o.cfg.DeadLetters = dlq
			}
			p := o.poller(t)
			o.round(t, p, 5)
			o.round(t, p, 0)
			o.clock.Set(now.Add(time.Minute))
			src.add("a|1", "good after", t0.Add(10*time.Minute))
			o.round(t, p, 1)
			o.round(t, o.poller(t), 0) // a restart

			checkPublishedOnce(t, sink, 6)
			logged := o.logs.withMessage(t, "entry not published")
			letters := deadLetters(t, dlq)
			if withTopic {
				if len(letters) != 1 || len(logged) != 0 {
					t.Fatalf("got %d dead letters and %d error lines, want 1 dead letter", len(letters), len(logged))
				}
				d := letters[0]
				if d.Reason != pipeline.ReasonMalformed || d.ID != bad.ID || d.CompanyHandle != "c|6" || d.AssetHandle != "a|1" ||
					d.Position == nil || *d.Position != 4 || d.Raw != string(bad.Raw) || d.RawSize != len(bad.Raw) ||
					!strings.Contains(d.Error, "logDate: unparsable dateTime") || !d.ObservedAt.Equal(now) {
					t.Errorf("dead letter: got %+v", d)
				}
			} else {
				if len(letters) != 0 || len(logged) != 1 {
					t.Fatalf("got %d dead letters and %d error lines, want 1 error line", len(letters), len(logged))
				}
				l := logged[0]
				if l["level"] != "ERROR" || l["asset"] != "a|1" || l["id"] != bad.ID || l["raw"] != string(bad.Raw) || l["position"] != float64(4) {
					t.Errorf("error line: got %v", l)
				}
			}
			if got, _ := metricValue(t, o.reg, "assetjoblog_dead_letters_total", "reason", "malformed"); got != 1 {
				t.Errorf("assetjoblog_dead_letters_total{reason=malformed}: got %v, want 1", got)
			}

			// IPS later returns the entry well-formed: published like any other,
			// and its id leaves the checkpoint.
			src.mu.Lock()
			src.bad["a|1"] = nil
			src.mu.Unlock()
			src.add("a|1", "fixed", t0.Add(4*time.Minute))
			o.round(t, p, 1)
			checkPublishedOnce(t, sink, 7)
			cp, _ := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|1"})
			if len(cp.DeadLetters) != 0 {
				t.Errorf("dead letters kept after the entry is gone: %v", cp.DeadLetters)
			}
		})
	}
}

func TestOversizedEntryIsDeadLetteredOnce(t *testing.T) {
	now := t0.Add(time.Hour)
	for _, check := range []string{"checked before publishing", "refused by the broker"} {
		t.Run(check, func(t *testing.T) {
			src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
			src.add("a|1", "small 1", t0)
			src.add("a|1", strings.Repeat("x", 10_000), t0.Add(time.Minute))
			src.add("a|1", "small 2", t0.Add(2*time.Minute))
			src.add("a|1", "small 3", t0.Add(3*time.Minute))
			dlq := &pipelinetest.Sink{}
			var sink pipeline.Sink
			var published *pipelinetest.Sink
			calls := 0
			if check == "checked before publishing" {
				ls := &pipelinetest.LimitedSink{MaxValueBytes: 4096}
				ls.Fail = func([]pipeline.Record) error { calls++; return nil }
				sink, published = ls, &ls.Sink
			} else {
				s := &pipelinetest.Sink{Fail: func(rs []pipeline.Record) error {
					for _, r := range rs {
						if len(r.Value) > 4096 {
							return fmt.Errorf("%d of %d records failed: [10] Message Size Too Large: %w", len(rs), len(rs), pipeline.ErrRecordTooLarge)
						}
					}
					return nil
				}}
				sink, published = s, s
			}
			cps := pipelinetest.NewCheckpoints()
			o := newObserved(src, sink, cps, now, "a|1")
			o.cfg.DeadLetters = dlq
			p := o.poller(t)
			o.round(t, p, 3)
			o.round(t, p, 0)
			o.round(t, o.poller(t), 0)
			checkPublishedOnce(t, published, 3)
			if check == "checked before publishing" && calls != 1 {
				t.Errorf("publish calls: got %d, want 1 (the oversized record left out beforehand)", calls)
			}
			for _, r := range published.Records() {
				if len(r.Value) > 4096 {
					t.Fatal("an oversized record reached the topic")
				}
			}
			letters := deadLetters(t, dlq)
			if len(letters) != 1 {
				t.Fatalf("dead letters: got %d, want 1", len(letters))
			}
			d := letters[0]
			if d.Reason != pipeline.ReasonTooLarge || d.EventID == "" || d.ID != d.EventID || d.RecordSize <= 10_000 ||
				len(d.RecordPrefix) != min(d.RecordSize, pipeline.MaxDeadLetterPrefix) || len(d.RecordSHA256) != 64 ||
				d.LogDate == nil || !d.LogDate.Equal(t0.Add(time.Minute)) || !strings.Contains(d.Error, "too large") {
				t.Errorf("dead letter: got %+v", d)
			}
			if got, _ := metricValue(t, o.reg, "assetjoblog_dead_letters_total", "reason", "too_large"); got != 1 {
				t.Errorf("assetjoblog_dead_letters_total{reason=too_large}: got %v, want 1", got)
			}
		})
	}
}

func TestDeadLetterOutageRetriesWithoutLosing(t *testing.T) {
	src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, bad: map[string][]pipeline.BadEntry{}, fail: map[string][]error{}}
	src.add("a|1", "good", t0)
	src.bad["a|1"] = []pipeline.BadEntry{badFragment(1, "never")}
	failures := 2
	dlq := &pipelinetest.Sink{Fail: func([]pipeline.Record) error {
		if failures > 0 {
			failures--
			return retryableErr{}
		}
		return nil
	}}
	sink := &pipelinetest.Sink{}
	o := newObserved(src, sink, pipelinetest.NewCheckpoints(), t0.Add(time.Hour), "a|1")
	o.cfg.DeadLetters = dlq
	o.round(t, o.poller(t), 1)
	if got := len(dlq.Records()); got != 1 {
		t.Fatalf("dead letters: got %d, want 1 once the topic is back", got)
	}

	// A dead-letter topic that stays away fails the asset, uncommitted:
	// the next round publishes and dead-letters again.
	src.bad["a|1"] = []pipeline.BadEntry{badFragment(1, "still never")}
	dlq.Fail = func([]pipeline.Record) error { return errors.New("topic gone") }
	stats, err := o.poller(t).RunOnce(context.Background())
	if !errors.Is(err, pipeline.ErrIncomplete) || stats.AssetsFailed != 1 {
		t.Fatalf("got %+v, %v; want the asset failed", stats, err)
	}
	dlq.Fail = nil
	o.round(t, o.poller(t), 0)
	if got := len(dlq.Records()); got != 2 {
		t.Fatalf("dead letters: got %d, want 2", got)
	}
}

func TestDeadLetterHoldsNoMorePersonalDataThanARecord(t *testing.T) {
	src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, bad: map[string][]pipeline.BadEntry{}, fail: map[string][]error{}}
	src.bad["a|1"] = []pipeline.BadEntry{badFragment(0, "never")}
	dlq := &pipelinetest.Sink{}
	o := newObserved(src, &pipelinetest.Sink{}, pipelinetest.NewCheckpoints(), t0, "a|1")
	enc, err := pipeline.WithUserEmail(pipelinetest.JSONEncoder{}, pipeline.UserEmailDrop, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.cfg.Encoder, o.cfg.DeadLetters = enc, dlq
	o.round(t, o.poller(t), 0)
	letters := deadLetters(t, dlq)
	if len(letters) != 1 {
		t.Fatalf("dead letters: got %d, want 1", len(letters))
	}
	if strings.Contains(letters[0].Raw, "someone@example.com") || !strings.Contains(letters[0].Raw, "<ns1:submitUserEmail></ns1:submitUserEmail>") {
		t.Fatalf("raw %q still holds the e-mail (-user-email drop)", letters[0].Raw)
	}
}

func TestCheckpointKeepsDeadLettersInANewFormatVersion(t *testing.T) {
	st := pipelinetest.NewState()
	cps := pipeline.NewCheckpoints(st)
	key := pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|1"}
	skey := pipeline.StateKey{Kind: pipeline.StateAsset, Company: "c|6", Name: "a|1"}
	plain := pipeline.AssetCheckpoint{Watermark: time.UnixMilli(1000).UTC(), Recent: map[string]int64{"ab": 2000}}
	if err := cps.CommitAsset(key, plain); err != nil {
		t.Fatal(err)
	}
	if raw, _ := st.Get(skey); raw[0] != 1 {
		t.Fatalf("a checkpoint without dead letters is written as version %d, want 1 (readable by earlier releases)", raw[0])
	}
	with := plain
	with.DeadLetters = map[string]int64{"0123456789abcdef0123456789abcdef": 3000}
	if err := cps.CommitAsset(key, with); err != nil {
		t.Fatal(err)
	}
	raw, _ := st.Get(skey)
	if raw[0] != 2 {
		t.Fatalf("format version %d, want 2", raw[0])
	}
	if err := pipeline.VerifyStateValue(skey, raw); err != nil {
		t.Fatalf("VerifyStateValue: %v", err)
	}
	got, err := cps.LoadAsset(key)
	if err != nil || !got.Watermark.Equal(with.Watermark) || got.Recent["ab"] != 2000 || got.DeadLetters["0123456789abcdef0123456789abcdef"] != 3000 {
		t.Fatalf("got %+v, %v; want %+v", got, err, with)
	}
	raw[len(raw)-5] ^= 1 // inside the dead letters
	if err := pipeline.VerifyStateValue(skey, raw); err == nil {
		t.Fatal("a damaged version 2 value passed verification")
	}
}

// crashingCheckpoints fails the first commit that crash selects, as a
// crash right before it would.
type crashingCheckpoints struct {
	pipeline.AssetCheckpoints
	mu      sync.Mutex
	crash   func(cp pipeline.AssetCheckpoint) bool
	crashed bool
}

func (c *crashingCheckpoints) CommitAsset(k pipeline.AssetKey, cp pipeline.AssetCheckpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.crashed && c.crash(cp) {
		c.crashed = true
		return errors.New("killed before the commit")
	}
	return c.AssetCheckpoints.CommitAsset(k, cp)
}

// final reports a commit that marks no dead letter pending: the one after
// the dead letters are written.
func final(cp pipeline.AssetCheckpoint) bool {
	for _, v := range cp.DeadLetters {
		if v < 0 {
			return false
		}
	}
	return true
}

func TestDeadLetterWrittenOnceAcrossACrashBeforeTheCommit(t *testing.T) {
	for _, kind := range []string{"malformed", "too large"} {
		t.Run(kind, func(t *testing.T) {
			src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, bad: map[string][]pipeline.BadEntry{}, fail: map[string][]error{}}
			src.add("a|1", "good 1", t0)
			src.add("a|1", "good 2", t0.Add(time.Minute))
			var sink pipeline.Sink = &pipelinetest.Sink{}
			if kind == "malformed" {
				src.bad["a|1"] = []pipeline.BadEntry{badFragment(2, "never")}
			} else {
				// Dated well before the newest entry: the watermark of a
				// commit of the good entries alone would pass it.
				src.add("a|1", strings.Repeat("x", 10_000), t0.Add(-48*time.Hour))
				sink = &pipelinetest.LimitedSink{MaxValueBytes: 4096}
			}
			dlq := pipelinetest.NewTopic(2)
			cps := pipelinetest.NewCheckpoints()
			crashing := &crashingCheckpoints{AssetCheckpoints: cps, crash: final}
			o := newObserved(src, sink, crashing, t0.Add(time.Hour), "a|1")
			o.cfg.DeadLetters = dlq
			if _, err := o.poller(t).RunOnce(context.Background()); err == nil {
				t.Fatal("the round with a crash before its commit succeeded")
			}
			if got := len(dlq.EventIDs()); got != 1 {
				t.Fatalf("dead letters before the crash: got %d, want 1", got)
			}
			// The restart: the pending mark makes the producer read the
			// dead-letter partition back instead of writing again.
			o.cfg.Checkpoints = cps
			o.round(t, o.poller(t), 2)
			o.round(t, o.poller(t), 0)
			if got := len(dlq.EventIDs()); got != 1 {
				t.Fatalf("dead letters after the restart: got %d, want still 1", got)
			}
			if dlq.Tails() == 0 {
				t.Error("the dead-letter partition was never read back")
			}
			cp, _ := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|1"})
			for id, v := range cp.DeadLetters {
				if v < 0 {
					t.Errorf("dead letter %s still pending after the restart", id)
				}
			}
		})
	}
}

func TestOversizedEntryRefusedByTheBrokerWithExactlyOnce(t *testing.T) {
	src := &scripted{logs: map[string][]pipeline.AssetJobLog{}, fail: map[string][]error{}}
	src.add("a|1", "small 1", t0)
	src.add("a|1", strings.Repeat("x", 10_000), t0.Add(time.Minute))
	src.add("a|1", "small 2", t0.Add(2*time.Minute))
	src.add("a|1", "small 3", t0.Add(3*time.Minute))
	topic := pipelinetest.NewTopic(3)
	topic.Fault = func(_ int, rs []pipeline.Record) (int, error) {
		for _, r := range rs {
			if len(r.Value) > 4096 {
				return 0, fmt.Errorf("[10] Message Size Too Large: %w", pipeline.ErrRecordTooLarge)
			}
		}
		return len(rs), nil
	}
	dlq := pipelinetest.NewTopic(3)
	o := newObserved(src, topic, pipelinetest.NewCheckpoints(), t0.Add(time.Hour), "a|1")
	o.cfg.DeadLetters = dlq
	o.cfg.Reconcile = &pipeline.ReconcileConfig{Reader: topic, Partitioner: topic}
	p := o.poller(t)
	o.round(t, p, 3)
	o.round(t, p, 0)
	o.round(t, o.poller(t), 0)
	ids := topic.EventIDs()
	if len(ids) != 3 || len(slices.Compact(slices.Sorted(slices.Values(ids)))) != 3 {
		t.Fatalf("topic: got %d records (%v), want the 3 small entries once", len(ids), ids)
	}
	if got := len(dlq.EventIDs()); got != 1 {
		t.Fatalf("dead letters: got %d, want 1", got)
	}
}
