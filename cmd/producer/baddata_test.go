package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

const testDeadLetterTopic = "ips.asset-job-logs.dead-letters"

// logLines returns the JSON log lines of a run whose msg starts with prefix.
func logLines(t *testing.T, stderr, prefix string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(stderr, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil {
			continue
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// deadLetters reads n dead letters (and any more already there) from the
// dead-letter topic.
func (s *stack) deadLetters(t *testing.T, n int) []pipeline.DeadLetter {
	t.Helper()
	var out []pipeline.DeadLetter
	for _, m := range kafkatest.ReadAll(t, s.brokers, testDeadLetterTopic, n, 30*time.Second) {
		var d pipeline.DeadLetter
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatalf("dead letter at offset %d: %v", m.Offset, err)
		}
		if string(m.Key) != d.AssetHandle || header(m, pipeline.HeaderDeadLetterReason) != string(d.Reason) || header(m, pipeline.HeaderEventID) != d.ID {
			t.Errorf("dead letter key %q and headers %v do not match %+v", m.Key, m.Headers, d)
		}
		out = append(out, d)
	}
	return out
}

// Reproduction 1: an entry dated nine hours ahead hid the next entries of
// its asset, silently.
func TestReproductionFutureDatedEntryHidesNothing(t *testing.T) {
	ctx := t.Context()
	ahead := time.Now().Add(9 * time.Hour).UTC().Truncate(time.Millisecond) // a skewed IPS clock
	first := firstEntryOf(0)
	s := newStack(t, 3, 2, ipstest.WithEntryHook(func(e *ipstest.Entry) {
		if first(e) {
			e.LogDate = ahead
		}
	}))
	r := runProducer(ctx, s.args("-once"), s.env())
	if r.err != nil {
		t.Fatalf("first run: %v", r)
	}
	if w := logLines(t, r.stderr, "entry dated in the future"); len(w) != 1 || w[0]["asset"] != s.sim.AssetHandles()[0] ||
		w[0]["level"] != "WARN" || w[0]["log_date"] != ahead.Format(time.RFC3339Nano) {
		t.Fatalf("future-dated warnings: got %v, want one for asset 0 dated %v", w, ahead)
	}
	// Entries with correct dates come next, in two more runs.
	for run := 2; run <= 3; run++ {
		s.sim.AddActivity([]int{0, 1}, 1)
		r := runProducer(ctx, s.args("-once"), s.env())
		if r.err != nil {
			t.Fatalf("run %d: %v", run, r)
		}
		if w := logLines(t, r.stderr, "entry dated in the future"); len(w) != 0 {
			t.Fatalf("run %d warned again: %v", run, w)
		}
	}
	want := s.expected(t)
	if len(want) != 3*2+4 {
		t.Fatalf("expected %d entries, want 10", len(want))
	}
	checkExactlyOnce(t, s.topic(t, len(want)), want)
}

// Reproduction 2: one entry with an unparsable logDate failed its whole
// asset every round, and -once exited 1.
func TestReproductionMalformedEntryBlocksNothing(t *testing.T) {
	for _, withTopic := range []bool{true, false} {
		name := "dead-letter topic"
		if !withTopic {
			name = "error log"
		}
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := newStack(t, 6, 4, ipstest.WithMalformedEntries(2)) // assets 1, 3 and 5
			args := s.args("-once")
			if withTopic {
				args = append(args, "-dead-letter-topic", testDeadLetterTopic, "-create-topic")
			}
			var logged int
			for run := 0; run < 3; run++ {
				r := runProducer(ctx, args, s.env())
				if r.err != nil {
					t.Fatalf("run %d: %v", run+1, r)
				}
				lines := logLines(t, r.stderr, "entry not published")
				logged += len(lines)
				for _, l := range lines {
					if l["level"] != "ERROR" || !strings.Contains(l["raw"].(string), ipstest.MalformedLogDate) ||
						!strings.Contains(l["error"].(string), "logDate: unparsable dateTime") {
						t.Errorf("error line: %v", l)
					}
				}
			}
			want := s.expected(t)
			if len(want) != 6*4-3 {
				t.Fatalf("expected %d good entries, want 21", len(want))
			}
			checkExactlyOnce(t, s.topic(t, len(want)), want)
			if !withTopic {
				if logged != 3 {
					t.Fatalf("error lines over three runs: got %d, want 3 (one per malformed entry)", logged)
				}
				return
			}
			if logged != 0 {
				t.Errorf("%d error lines with a dead-letter topic, want none", logged)
			}
			letters := s.deadLetters(t, 3)
			assets := map[string]bool{}
			for _, d := range letters {
				assets[d.AssetHandle] = true
				if d.Reason != pipeline.ReasonMalformed || d.Position == nil || *d.Position != 0 || !strings.Contains(d.Raw, ipstest.MalformedLogDate) {
					t.Errorf("dead letter: %+v", d)
				}
			}
			if len(letters) != 3 || len(assets) != 3 {
				t.Fatalf("dead letters: got %d for %d assets, want one for each of 3", len(letters), len(assets))
			}
		})
	}
}

// Reproduction 3: one entry with a 2 MB logMessage, over the broker's
// default record limit, failed the publish of its asset's small entries
// too, every round.
func TestReproductionOversizedEntryBlocksNothing(t *testing.T) {
	ctx := t.Context()
	big := strings.Repeat("0123456789abcdef", 2<<20/16)
	first := firstEntryOf(0)
	s := newStack(t, 2, 4, ipstest.WithEntryHook(func(e *ipstest.Entry) {
		if first(e) {
			e.LogMessage = big
		}
	}))
	args := s.args("-once", "-dead-letter-topic", testDeadLetterTopic, "-create-topic")
	for run := 0; run < 2; run++ {
		if r := runProducer(ctx, args, s.env()); r.err != nil {
			t.Fatalf("run %d: %v", run+1, r)
		}
	}
	want := s.expected(t)
	var oversized pipeline.AssetJobLog
	for id, e := range want {
		if e.LogMessage == big {
			oversized = e
			delete(want, id)
		}
	}
	if oversized.EventID == "" || len(want) != 7 {
		t.Fatalf("the catalog has no oversized entry, or not 7 others (%d)", len(want))
	}
	checkExactlyOnce(t, s.topic(t, len(want)), want)
	letters := s.deadLetters(t, 1)
	if len(letters) != 1 {
		t.Fatalf("dead letters: got %d, want 1", len(letters))
	}
	d := letters[0]
	if d.Reason != pipeline.ReasonTooLarge || d.EventID != oversized.EventID || d.RecordSize < len(big) ||
		len(d.RecordPrefix) != pipeline.MaxDeadLetterPrefix || len(d.RecordSHA256) != 64 || !strings.Contains(d.Error, "max.message.bytes 1048588") {
		t.Errorf("dead letter: got reason %s, event %s, size %d, prefix %d, error %q", d.Reason, d.EventID, d.RecordSize, len(d.RecordPrefix), d.Error)
	}
}

// firstEntryOf returns a test for the first base entry of an asset of the
// catalog (the first one an entry hook sees).
func firstEntryOf(asset int) func(e *ipstest.Entry) bool {
	var first sync.Map
	return func(e *ipstest.Entry) bool {
		if e.AssetIndex != asset {
			return false
		}
		v, _ := first.LoadOrStore(e.AssetIndex, e.LogDate)
		return e.LogDate.Equal(v.(time.Time))
	}
}
