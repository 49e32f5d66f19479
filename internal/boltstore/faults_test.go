package boltstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/assetjoblog/assetjoblog/internal/boltstore"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

const company = "c|6"

func key(i int) pipeline.AssetKey {
	return pipeline.AssetKey{CompanyHandle: company, AssetHandle: fmt.Sprintf("a|6|1|%d", i)}
}

func checkpoint(i int) pipeline.AssetCheckpoint {
	recent := map[string]int64{}
	for j := 0; j < 5; j++ {
		recent[fmt.Sprintf("%032x", i*100+j)] = 1_700_000_000_000 + int64(i*1000+j)
	}
	return pipeline.AssetCheckpoint{Watermark: time.UnixMilli(1_600_000_000_000 + int64(i)).UTC(), Recent: recent}
}

// writeStore writes n asset checkpoints to a new store and returns the file's bytes.
func writeStore(t *testing.T, n int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "good.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := s.CommitAsset(key(i), checkpoint(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// openDamaged writes content to a fresh file and opens it. It checks the
// store's promises for a damaged file: Open either fails with
// ErrCorruptState, leaving the file as it was and the lock released, or
// succeeds and returns exactly the checkpoints that were committed (n of
// them).
func openDamaged(t *testing.T, content []byte, n int, checkLock bool) (corrupt bool) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "damaged.db")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path)
	if err != nil {
		if !errors.Is(err, pipeline.ErrCorruptState) {
			t.Errorf("Open: got %v, want ErrCorruptState", err)
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(after, content) {
			t.Errorf("Open changed the damaged file (%d bytes, now %d)", len(content), len(after))
		}
		// Open must not leave the file locked by a half-opened handle
		// (-reset-state reopens in the same process).
		if checkLock {
			if _, err2 := boltstore.Open(path); errors.Is(err2, boltstore.ErrLocked) {
				t.Errorf("after a failed Open the file is still locked: %v", err2)
			}
		}
		return true
	}
	defer s.Close()
	for i := 0; i < n; i++ {
		got, err := s.LoadAsset(key(i))
		if err != nil {
			t.Errorf("Open accepted the file but LoadAsset(%d) fails: %v", i, err)
			return false
		}
		if !reflect.DeepEqual(got, checkpoint(i)) {
			t.Errorf("Open accepted a damaged file (%d bytes) and returned a different checkpoint for asset %d:\n got %+v\nwant %+v",
				len(content), i, got, checkpoint(i))
			return false
		}
	}
	return false
}

// TestOpenTruncated cuts a state file at page boundaries and inside pages:
// Open rejects it as corrupt (or reads back every checkpoint), and a failed
// Open releases the file.
func TestOpenTruncated(t *testing.T) {
	const n = 200
	data := writeStore(t, n)
	page := os.Getpagesize()
	cuts := []int{page / 2, page, 2*page + 100, 3 * page, 4 * page, 6*page + 1, 8 * page, 16 * page, 32 * page, len(data) - page/2}
	for i, cut := range cuts {
		if cut >= len(data) {
			continue
		}
		t.Run(fmt.Sprintf("%d of %d bytes", cut, len(data)), func(t *testing.T) {
			openDamaged(t, data[:cut], n, i == 3)
		})
	}
}

// TestOpenFlippedBytes flips random bytes of a state file (seeded), as a
// failing disk or a stray write would: Open never panics, and either
// rejects the file as corrupt or hands back exactly what was committed. A
// silently altered checkpoint is worse than a refused one: a watermark
// moved forward skips entries that were never published.
func TestOpenFlippedBytes(t *testing.T) {
	const n = 200
	data := writeStore(t, n)
	rng := rand.New(rand.NewPCG(1, 2))
	corrupt := 0
	for i := 0; i < 100; i++ {
		damaged := append([]byte(nil), data...)
		for j := 0; j < 1+rng.IntN(8); j++ {
			damaged[rng.IntN(len(damaged))] ^= byte(1 + rng.IntN(255))
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			if openDamaged(t, damaged, n, false) {
				corrupt++
			}
		})
	}
	t.Logf("%d of 100 damaged files rejected as corrupt", corrupt)
}

// TestOpenRejectsBadValues writes values the store cannot decode straight
// into a valid bbolt file: Open reports ErrCorruptState naming the key.
func TestOpenRejectsBadValues(t *testing.T) {
	for name, value := range map[string][]byte{
		"unknown version": {9, 0, 0, 0},
		"too short":       {1},
		"trailing bytes":  {1, 0, 0, 0, 0xff},
		"count too large": {1, 0, 0, 0xff, 0xff, 0x03},
		"bad time flag":   {1, 7, 0, 0},
		"id past the end": {1, 0, 0, 1, 50, 'x'},
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists([]byte("assets"))
				if err != nil {
					return err
				}
				return b.Put([]byte(company+"\x00a|bad"), value)
			}); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err := boltstore.Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted an undecodable checkpoint")
			}
			if !errors.Is(err, pipeline.ErrCorruptState) || !bytes.Contains([]byte(err.Error()), []byte("a|bad")) {
				t.Errorf("got %v, want ErrCorruptState naming the key", err)
			}
		})
	}
}

// TestOpenIOErrorIsNotCorruption: a state that cannot be opened for a
// reason of the file system (its directory is a file, or missing) is an
// I/O error, not corruption: calling it corrupt sends the operator to
// -reset-state, which re-publishes the whole history.
func TestOpenIOErrorIsNotCorruption(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"parent is a file":  filepath.Join(file, "state.db"),
		"parent is missing": filepath.Join(dir, "missing", "state.db"),
		"path is directory": dir,
	} {
		t.Run(name, func(t *testing.T) {
			s, err := boltstore.Open(path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if errors.Is(err, pipeline.ErrCorruptState) {
				t.Errorf("got %v, want an I/O error that does not wrap ErrCorruptState", err)
			}
		})
	}
}

// TestCommitsSurviveReopenUnderConcurrency commits from many goroutines,
// closes and reopens: every last commit is there.
func TestCommitsSurviveReopenUnderConcurrency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 40
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < per; i++ {
				if err := s.CommitAsset(key(w*per+i), checkpoint(w*per+i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < workers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err = boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	assets, ids, err := s.Stats()
	if err != nil || assets != workers*per || ids != workers*per*5 {
		t.Fatalf("Stats: got %d assets, %d ids, %v; want %d, %d", assets, ids, err, workers*per, workers*per*5)
	}
}
