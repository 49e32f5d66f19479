package boltstore_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

func TestStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	key := pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: "a|1|1|1"}

	t.Run("missing asset loads zero", func(t *testing.T) {
		cp, err := s.LoadAsset(key)
		if err != nil || !cp.Watermark.IsZero() || len(cp.Recent) != 0 {
			t.Fatalf("got %+v, %v; want zero", cp, err)
		}
	})

	want := pipeline.AssetCheckpoint{
		Watermark: time.UnixMilli(1_700_000_000_123).UTC(),
		Recent:    map[string]int64{"id1": 1_700_000_000_200, "id2": 1_700_000_000_300},
	}
	disc := pipeline.DiscoveryCheckpoint{Cursor: time.UnixMilli(-5).UTC(), Done: map[string]int64{"j|6||x": 7}}
	if err := s.CommitAsset(key, want); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitDiscovery("c|6", disc); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	t.Run("commits survive reopen", func(t *testing.T) {
		s, err := boltstore.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		got, err := s.LoadAsset(key)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("got %+v, %v; want %+v", got, err, want)
		}
		gotD, err := s.LoadDiscovery("c|6")
		if err != nil || !reflect.DeepEqual(gotD, disc) {
			t.Fatalf("got %+v, %v; want %+v", gotD, err, disc)
		}
		if _, err := boltstore.Open(path); !errors.Is(err, boltstore.ErrLocked) {
			t.Fatalf("second Open while held: got %v, want ErrLocked", err)
		}
	})
}

func TestOpenRejectsDamagedFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	s, err := boltstore.Open(good)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		k := pipeline.AssetKey{CompanyHandle: "c|6", AssetHandle: string(rune('a' + i%26))}
		if err := s.CommitAsset(k, pipeline.AssetCheckpoint{Recent: map[string]int64{"x": int64(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string][]byte{
		"truncated":    data[:len(data)/3],
		"garbage":      []byte("this is not a bbolt file, it is some text that someone wrote over the state"),
		"zeroed pages": append(append([]byte{}, data[:4096*2]...), make([]byte, len(data)-4096*2)...),
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name+".db")
			if err := os.WriteFile(p, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := boltstore.Open(p)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a damaged file")
			}
			if !errors.Is(err, pipeline.ErrCorruptState) {
				t.Fatalf("got %v, want ErrCorruptState", err)
			}
			after, _ := os.ReadFile(p)
			if string(after) != string(content) {
				t.Fatal("Open modified the damaged file")
			}
		})
	}
}
