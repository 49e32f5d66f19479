package pipeline

import (
	"context"
	"testing"
	"time"
)

type endAt struct{ end int64 }

func (e *endAt) EndOffset(context.Context, int32) (int64, error) { return e.end, nil }
func (e *endAt) ReadTail(context.Context, int32, int64) ([]PublishedRecord, int64, error) {
	return nil, e.end, nil
}

// A bound never passes a write that is not committed: the end read while a
// write is in flight becomes the bound only once that write is given back.
func TestBoundWaitsForWritesInFlight(t *testing.T) {
	ctx := context.Background()
	reader := &endAt{end: 0}
	b := newBounds(ReconcileConfig{Reader: reader, AdvanceEvery: time.Hour}, "c|6", time.Now)
	b.set(0, 0)
	w, _ := b.begin("a|1", 0) // sent, lands at offset 0
	reader.end = 1            // the write is appended
	if err := b.advance(ctx, 0, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.bound(0); got != 0 {
		t.Fatalf("bound %d passed a write in flight at offset 0", got)
	}
	later, _ := b.begin("a|2", 0) // started after the end was read: lands at 1 or after
	reader.end = 2
	b.release(w)
	if err := b.advance(ctx, 0, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.bound(0); got != 1 {
		t.Fatalf("bound after the write was committed: got %d, want 1 (the end read while it was in flight)", got)
	}
	b.release(later)
	if err := b.advance(ctx, 0, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.bound(0); got != 2 {
		t.Fatalf("bound with nothing in flight: got %d, want 2", got)
	}
}
