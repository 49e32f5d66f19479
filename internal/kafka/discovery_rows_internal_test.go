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
