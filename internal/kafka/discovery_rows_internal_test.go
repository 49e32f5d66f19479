package kafka

import (
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

// TestDiscoveryPartsKeepRowCursors: a running job's row cursor survives
// the per-partition discovery cursors at its lowest, and only where every
// owned partition has one.
func TestDiscoveryPartsKeepRowCursors(t *testing.T) {
	cps := pipeline.NewCheckpoints(pipelinetest.NewState())
	at := time.UnixMilli(1_700_000_000_000).UTC()
	for p, rows := range []map[string]int{{"j|both": 900, "j|one": 5}, {"j|both": 400}} {
		if err := cps.CommitDiscoveryPart("c|6", DiscoveryPart(p), pipeline.DiscoveryCheckpoint{Cursor: at, Rows: rows}); err != nil {
			t.Fatal(err)
		}
	}
	g := &Group{}
	g.current.Store(&generation{owned: map[int]bool{0: true, 1: true}})
	cp, err := g.DiscoveryCheckpoints(cps).LoadDiscovery("c|6")
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.Rows) != 1 || cp.Rows["j|both"] != 400 {
		t.Errorf("row cursors: got %v, want only j|both at 400", cp.Rows)
	}
}

// TestDiscoveryPartsDoneOnlyWhereEveryPartitionIsDone: a job that one
// owned partition has processed and another (just taken over) has not is
// listed again, so the assets it touched in the second are polled.
func TestDiscoveryPartsDoneOnlyWhereEveryPartitionIsDone(t *testing.T) {
	cps := pipeline.NewCheckpoints(pipelinetest.NewState())
	at := time.UnixMilli(1_700_000_000_000).UTC()
	for p, done := range []map[string]int64{{"j|both": 1, "j|one": 2}, {"j|both": 1}} {
		if err := cps.CommitDiscoveryPart("c|6", DiscoveryPart(p), pipeline.DiscoveryCheckpoint{Cursor: at, Done: done}); err != nil {
			t.Fatal(err)
		}
	}
	g := &Group{}
	g.current.Store(&generation{owned: map[int]bool{0: true, 1: true}})
	cp, err := g.DiscoveryCheckpoints(cps).LoadDiscovery("c|6")
	if err != nil {
		t.Fatal(err)
	}
	if len(cp.Done) != 1 || cp.Done["j|both"] != 1 {
		t.Errorf("done jobs: got %v, want only j|both", cp.Done)
	}
}
