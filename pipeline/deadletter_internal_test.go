package pipeline

import (
	"testing"
	"time"
)

// TestReadBackKeepsDeadLetters: counting entries found on the topic at
// start-up must not forget the asset's dead letters, or they would be
// written again.
func TestReadBackKeepsDeadLetters(t *testing.T) {
	cp := AssetCheckpoint{
		Watermark:   time.UnixMilli(1000).UTC(),
		Recent:      map[string]int64{"a": 2000},
		DeadLetters: map[string]int64{"done": 3000, "pending": pendingMark(42)},
	}
	next, n := cp.withPublished([]AssetJobLog{{EventID: "b", LogDate: time.UnixMilli(2500).UTC()}})
	if n != 1 || next.Recent["b"] != 2500 {
		t.Fatalf("got %+v, %d; want b counted", next, n)
	}
	if next.DeadLetters["done"] != 3000 || next.DeadLetters["pending"] != pendingMark(42) {
		t.Fatalf("dead letters: got %v, want %v", next.DeadLetters, cp.DeadLetters)
	}
	if off, ok := pendingOffset(next.DeadLetters["pending"]); !ok || off != 42 {
		t.Fatalf("pending mark: got %d, %v", off, ok)
	}
}
