package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

var (
	_ pipeline.StateStore           = (*Store)(nil)
	_ pipeline.AssetCheckpoints     = (*Store)(nil)
	_ pipeline.DiscoveryCheckpoints = (*Store)(nil)
)

// maxBatchDelay is how long a commit waits for others to share its
// transaction.
const maxBatchDelay = 2 * time.Millisecond

// ErrLocked is returned by Open when another process holds the state file.
var ErrLocked = errors.New("state file is in use by another process")

// Store is a checkpoint store in one bbolt file: a pipeline.StateStore
// with one bucket per pipeline.StateKind, and the pipeline's checkpoints
// on top of it (LoadAsset, CommitAsset, ...). It is safe for concurrent use.
// Open creates every bucket before it returns a Store, so its methods find
// the bucket of each pipeline.StateKinds() kind.
type Store struct {
	*pipeline.Checkpoints
	db   *bolt.DB
	path string
}

// Open opens (creating if needed) the state file at path and checks its
// consistency. A file that is not a valid store yields an error wrapping
// pipeline.ErrCorruptState; it is never overwritten.
func Open(path string) (*Store, error) {
	// Verify an existing file through a read-only handle first: it loads
	// no freelist, and closing it unmaps and unlocks the file whatever the
	// check found, so a damaged file never stays locked by this process.
	if info, err := os.Stat(path); err == nil && info.Mode().IsRegular() && info.Size() > 0 {
		ro, err := openBolt(path, true)
		if err != nil {
			return nil, openError(path, err)
		}
		err = verify(ro, path, false)
		ro.Close()
		if err != nil {
			return nil, err
		}
	}
	db, err := openBolt(path, false)
	if err != nil {
		return nil, openError(path, err)
	}
	// Concurrent commits from the poller's workers still share one fsync,
	// without each waiting bbolt's default 10ms for the batch to fill.
	db.MaxBatchDelay = maxBatchDelay
	if err := verify(db, path, true); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{db: db, path: path}
	s.Checkpoints = pipeline.NewCheckpoints(s)
	return s, nil
}

// openError classifies an error of bolt.Open.
func openError(path string, err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return fmt.Errorf("open state %s: %w", path, ErrLocked)
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
		errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
		return fmt.Errorf("open state %s: %w: %w", path, pipeline.ErrCorruptState, err)
	}
	// A file-system error (a read-only or missing directory, a path
	// through a regular file, too many open files) says nothing about the
	// data: it is not corruption, and -reset-state would not help.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("open state %s: %w", path, err)
	}
	// bbolt reports other damage (a truncated file, a bad page) as plain
	// errors or panics on access; treat it as corruption.
	return fmt.Errorf("open state %s: %w: %w", path, pipeline.ErrCorruptState, err)
}

// openBolt opens the file, turning bbolt's panics on some kinds of damage
// (a zeroed freelist page, say) into an error.
func openBolt(path string, readOnly bool) (db *bolt.DB, err error) {
	// A truncated file makes bbolt read past the end of its mapping: turn
	// that fault into a panic recovered below instead of a crash.
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if file != nil {
				file.Close()
			}
			db, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  time.Second,
		ReadOnly: readOnly,
		OpenFile: func(name string, flag int, perm os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, perm)
			file = f
			return f, err
		},
	})
}

// verify runs bbolt's consistency check and decodes every value, so that a
// damaged file stops the producer before it publishes anything. With
// create, it also creates the buckets of a new file.
func verify(db *bolt.DB, path string, create bool) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check state %s: %w: %v", path, pipeline.ErrCorruptState, r)
		}
	}()
	fn := func(tx *bolt.Tx) error {
		// A file shorter than its own high-water mark was truncated; bbolt
		// would fault reading past its end (in a goroutine of its own
		// during Check, where the fault cannot be recovered).
		info, err := os.Stat(path)
		if err != nil {
			return err
		}
		if info.Size() < tx.Size() {
			return fmt.Errorf("%w: file is %d bytes, its pages need %d: truncated", pipeline.ErrCorruptState, info.Size(), tx.Size())
		}
		var first error
		for e := range tx.Check() {
			if first == nil {
				first = e
			}
		}
		if first != nil {
			return fmt.Errorf("%w: %w", pipeline.ErrCorruptState, first)
		}
		for _, kind := range pipeline.StateKinds() {
			name := []byte(kind)
			b := tx.Bucket(name)
			if b == nil && create {
				if b, err = tx.CreateBucket(name); err != nil {
					return err
				}
			}
			if b == nil {
				continue
			}
			if err := b.ForEach(func(k, v []byte) error {
				if err := pipeline.VerifyStateValue(pipeline.ParseStateKey(kind, k), v); err != nil {
					return fmt.Errorf("%w: %s key %q: %w", pipeline.ErrCorruptState, kind, k, err)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	}
	if create {
		err = db.Update(fn)
	} else {
		err = db.View(fn)
	}
	if err != nil {
		return fmt.Errorf("check state %s: %w", path, err)
	}
	return nil
}

// Close closes the file. It is safe to call more than once.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil && !errors.Is(err, bolterrors.ErrDatabaseNotOpen) {
		return err
	}
	return nil
}

// Get implements pipeline.StateStore: the value under key, or nil.
func (s *Store) Get(key pipeline.StateKey) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		b, err := bucket(tx, key.Kind)
		if err != nil {
			return err
		}
		if v := b.Get(key.Bytes()); v != nil {
			out = bytes.Clone(v) // bbolt's slice is valid only inside the transaction
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.path, err)
	}
	return out, nil
}

// Put implements pipeline.StateStore: it durably replaces the value under
// key. Concurrent calls share one transaction and one fsync (bbolt's Batch).
func (s *Store) Put(key pipeline.StateKey, value []byte) error {
	err := s.db.Batch(func(tx *bolt.Tx) error {
		b, err := bucket(tx, key.Kind)
		if err != nil {
			return err
		}
		return b.Put(key.Bytes(), value)
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	return nil
}

// bucket returns the bucket of kind, which Open created if kind is one of
// pipeline.StateKinds().
func bucket(tx *bolt.Tx, kind pipeline.StateKind) (*bolt.Bucket, error) {
	b := tx.Bucket([]byte(kind))
	if b == nil {
		return nil, fmt.Errorf("no bucket for state kind %q", kind)
	}
	return b, nil
}

// Stats reports how many assets and remembered event ids the store holds.
func (s *Store) Stats() (assets, ids int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte(pipeline.StateAsset)).ForEach(func(k, v []byte) error {
			cp, err := pipeline.DecodeAssetCheckpoint(pipeline.ParseStateKey(pipeline.StateAsset, k), v)
			if err != nil {
				return err
			}
			assets++
			ids += len(cp.Recent)
			return nil
		})
	})
	return assets, ids, err
}

// Each calls fn with every value of every kind, in key order within each
// kind, stopping at the first error fn returns. The value is a copy.
func (s *Store) Each(fn func(key pipeline.StateKey, value []byte) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		for _, kind := range pipeline.StateKinds() {
			if err := tx.Bucket([]byte(kind)).ForEach(func(k, v []byte) error {
				return fn(pipeline.ParseStateKey(kind, k), bytes.Clone(v))
			}); err != nil {
				return err
			}
		}
		return nil
	})
}
