//go:build integration

package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// TestIntegrationBadEntriesAreDeadLetteredOnce runs the producer against
// the real broker, whose topics keep the default max.message.bytes
// (1048588): an entry with a 2 MB logMessage and a malformed entry are each
// dead-lettered once, across a restart, and every other entry is published
// once.
func TestIntegrationBadEntriesAreDeadLetteredOnce(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 2<<20/16)
	first := firstEntryOf(0)
	rs := newRealStack(t, 4, 4, ipstest.WithMalformedEntries(4), ipstest.WithEntryHook(func(e *ipstest.Entry) {
		if first(e) {
			e.LogMessage = big
		}
	}))
	dlq := kafkatest.TopicName(t, rs.brokers)
	args := rs.args("-once", "-dead-letter-topic", dlq, "-create-topic")
	for run := 1; run <= 2; run++ {
		r := runProducer(t.Context(), args, rs.stack().env())
		if r.err != nil {
			t.Fatalf("run %d: %v", run, r)
		}
		if run == 1 && len(logLines(t, r.stderr, "largest record the topic accepts")) != 1 {
			t.Errorf("the learnt record limit is not logged")
		}
	}
	want := rs.stack().expected(t)
	for id, e := range want {
		if e.LogMessage == big {
			delete(want, id)
		}
	}
	if len(want) != 4*4-2 {
		t.Fatalf("expected %d good entries, want 14", len(want))
	}
	checkExactlyOnce(t, rs.readTopic(t, len(want), 60*time.Second), want)

	msgs := kafkatest.ReadAll(t, rs.brokers, dlq, 2, 60*time.Second)
	reasons := map[pipeline.DeadLetterReason]int{}
	for _, m := range msgs {
		var d pipeline.DeadLetter
		if err := json.Unmarshal(m.Value, &d); err != nil {
			t.Fatal(err)
		}
		reasons[d.Reason]++
		if d.Reason == pipeline.ReasonTooLarge && (!strings.Contains(d.Error, "max.message.bytes 1048588 of the topic") || d.RecordSize < len(big)) {
			t.Errorf("too-large dead letter: error %q, record size %d", d.Error, d.RecordSize)
		}
	}
	if len(msgs) != 2 || reasons[pipeline.ReasonTooLarge] != 1 || reasons[pipeline.ReasonMalformed] != 1 {
		t.Fatalf("dead letters: got %d (%v), want one too_large and one malformed", len(msgs), reasons)
	}
}
