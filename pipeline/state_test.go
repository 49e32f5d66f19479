package pipeline_test

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
	"github.com/assetjoblog/assetjoblog/pipeline/pipelinetest"
)

func TestCheckpointsRoundTripEveryKind(t *testing.T) {
	st := pipelinetest.NewState()
	cps := pipeline.NewCheckpoints(st)
	key := pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|1"}
	want := pipeline.AssetCheckpoint{
		Watermark: time.UnixMilli(1_700_000_000_000).UTC(),
		Recent:    map[string]int64{"id-1": 1_700_000_001_000, "id-2": 1_700_000_002_000},
	}
	if err := cps.CommitAsset(key, want); err != nil {
		t.Fatal(err)
	}
	got, err := cps.LoadAsset(key)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Watermark.Equal(want.Watermark) || len(got.Recent) != 2 || got.Recent["id-2"] != want.Recent["id-2"] {
		t.Errorf("asset checkpoint: got %+v, want %+v", got, want)
	}

	disc := pipeline.DiscoveryCheckpoint{Cursor: time.UnixMilli(1_700_000_003_000).UTC(), Done: map[string]int64{"j|1": 5}}
	if err := cps.CommitDiscovery("c|6", disc); err != nil {
		t.Fatal(err)
	}
	gotDisc, err := cps.LoadDiscovery("c|6")
	if err != nil {
		t.Fatal(err)
	}
	if !gotDisc.Cursor.Equal(disc.Cursor) || gotDisc.Done["j|1"] != 5 {
		t.Errorf("discovery checkpoint: got %+v, want %+v", gotDisc, disc)
	}

	none, err := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|2"})
	if err != nil || !none.Watermark.IsZero() || len(none.Recent) != 0 {
		t.Errorf("absent asset: got %+v, %v; want the zero value", none, err)
	}
}

// TestStateCodecFormatIsStable pins the stored bytes of version 1, which
// state files written by earlier releases hold.
func TestStateCodecFormatIsStable(t *testing.T) {
	st := pipelinetest.NewState()
	cps := pipeline.NewCheckpoints(st)
	key := pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|1"}
	cp := pipeline.AssetCheckpoint{Watermark: time.UnixMilli(1000).UTC(), Recent: map[string]int64{"ab": 2000}}
	if err := cps.CommitAsset(key, cp); err != nil {
		t.Fatal(err)
	}
	raw, _ := st.Get(pipeline.StateKey{Kind: pipeline.StateAsset, Company: "c|6", Name: "a|1"})
	const want = "0101d00f01026162a01f" // version 1, has watermark, 1000, 1 id, "ab", 2000
	if got := hex.EncodeToString(raw); len(got) != len(want)+8 || got[:len(want)] != want {
		t.Errorf("stored value: got %s, want %s followed by a 4-byte checksum", got, want)
	}
	if err := pipeline.VerifyStateValue(pipeline.StateKey{Kind: pipeline.StateAsset, Company: "c|6", Name: "a|1"}, raw); err != nil {
		t.Errorf("VerifyStateValue of a good value: %v", err)
	}
}

func TestCheckpointsRefuseDamagedValues(t *testing.T) {
	akey := pipeline.StateKey{Kind: pipeline.StateAsset, Company: "c|6", Name: "a|1"}
	setup := func(t *testing.T) (*pipelinetest.State, *pipeline.Checkpoints, []byte) {
		st := pipelinetest.NewState()
		cps := pipeline.NewCheckpoints(st)
		err := cps.CommitAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|1"},
			pipeline.AssetCheckpoint{Watermark: time.UnixMilli(1000).UTC(), Recent: map[string]int64{"ab": 2000}})
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := st.Get(akey)
		return st, cps, raw
	}
	t.Run("a flipped bit is corruption", func(t *testing.T) {
		st, cps, raw := setup(t)
		raw[3] ^= 0x01
		_ = st.Put(akey, raw)
		_, err := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|1"})
		if !errors.Is(err, pipeline.ErrCorruptState) {
			t.Errorf("got %v, want ErrCorruptState", err)
		}
		if pipeline.VerifyStateValue(akey, raw) == nil {
			t.Error("VerifyStateValue accepted a flipped bit")
		}
	})
	t.Run("a value under another key is corruption", func(t *testing.T) {
		st, cps, raw := setup(t)
		other := pipeline.StateKey{Kind: pipeline.StateAsset, Company: "c|6", Name: "a|2"}
		_ = st.Put(other, raw)
		_, err := cps.LoadAsset(pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|2"})
		if !errors.Is(err, pipeline.ErrCorruptState) {
			t.Errorf("got %v, want ErrCorruptState", err)
		}
	})
	t.Run("an unknown kind is refused", func(t *testing.T) {
		_, _, raw := setup(t)
		if pipeline.VerifyStateValue(pipeline.StateKey{Kind: "nonsense", Company: "c|6"}, raw) == nil {
			t.Error("VerifyStateValue accepted an unknown kind")
		}
	})
}

func TestStateKeyBytesRoundTrip(t *testing.T) {
	for _, k := range []pipeline.StateKey{
		{Kind: pipeline.StateAsset, Company: "c|6", Name: "a|1|2"},
		{Kind: pipeline.StateDiscovery, Company: "c|6"},
	} {
		if got := pipeline.ParseStateKey(k.Kind, k.Bytes()); got != k {
			t.Errorf("ParseStateKey(%q): got %+v, want %+v", k.Bytes(), got, k)
		}
	}
}
