package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

var (
	_ pipeline.AssetCheckpoints     = (*Store)(nil)
	_ pipeline.DiscoveryCheckpoints = (*Store)(nil)
)

var (
	bucketAssets    = []byte("assets")
	bucketDiscovery = []byte("discovery")
)

// formatVersion is the first byte of every stored value.
const formatVersion = 1

// ErrLocked is returned by Open when another process holds the state file.
var ErrLocked = errors.New("state file is in use by another process")

// Store is a checkpoint store in one bbolt file. It is safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
}

// Open opens (creating if needed) the state file at path and checks its
// consistency. A file that is not a valid store yields an error wrapping
// pipeline.ErrCorruptState; it is never overwritten.
func Open(path string) (*Store, error) {
	db, err := openBolt(path)
	if err != nil {
		switch {
		case errors.Is(err, bolterrors.ErrTimeout):
			return nil, fmt.Errorf("open state %s: %w", path, ErrLocked)
		case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrChecksum),
			errors.Is(err, bolterrors.ErrVersionMismatch), errors.Is(err, bolterrors.ErrInvalidMapping):
			return nil, fmt.Errorf("open state %s: %w: %w", path, pipeline.ErrCorruptState, err)
		case errors.Is(err, os.ErrPermission), errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("open state %s: %w", path, err)
		}
		// bbolt reports other damage (a truncated file, a bad page) as
		// plain errors or panics on access; treat it as corruption.
		return nil, fmt.Errorf("open state %s: %w: %w", path, pipeline.ErrCorruptState, err)
	}
	s := &Store{db: db, path: path}
	if err := s.check(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// openBolt opens the file, turning bbolt's panics on some kinds of damage
// (a zeroed freelist page, say) into an error.
func openBolt(path string) (db *bolt.DB, err error) {
	// A truncated file makes bbolt read past the end of its mapping: turn
	// that fault into a panic recovered below instead of a crash.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("%v", r)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
}

// check runs bbolt's consistency check and decodes every value, so that a
// damaged file stops the producer before it publishes anything.
func (s *Store) check() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("check state %s: %w: %v", s.path, pipeline.ErrCorruptState, r)
		}
	}()
	err = s.db.Update(func(tx *bolt.Tx) error {
		var first error
		for e := range tx.Check() {
			if first == nil {
				first = e
			}
		}
		if first != nil {
			return fmt.Errorf("%w: %w", pipeline.ErrCorruptState, first)
		}
		for _, name := range [][]byte{bucketAssets, bucketDiscovery} {
			b, err := tx.CreateBucketIfNotExists(name)
			if err != nil {
				return err
			}
			if err := b.ForEach(func(k, v []byte) error {
				var err error
				if bytes.Equal(name, bucketAssets) {
					_, err = decodeAsset(v)
				} else {
					_, err = decodeDiscovery(v)
				}
				if err != nil {
					return fmt.Errorf("%w: key %q: %w", pipeline.ErrCorruptState, k, err)
				}
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("check state %s: %w", s.path, err)
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

func assetKey(k pipeline.AssetKey) []byte {
	return []byte(k.CompanyHandle + "\x00" + k.AssetHandle)
}

// LoadAsset returns the checkpoint of an asset, or the zero value.
func (s *Store) LoadAsset(k pipeline.AssetKey) (pipeline.AssetCheckpoint, error) {
	var cp pipeline.AssetCheckpoint
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketAssets).Get(assetKey(k))
		if v == nil {
			return nil
		}
		var err error
		cp, err = decodeAsset(v)
		return err
	})
	if err != nil {
		return cp, fmt.Errorf("load checkpoint of asset %q: %w: %w", k.AssetHandle, pipeline.ErrCorruptState, err)
	}
	return cp, nil
}

// CommitAsset durably replaces the checkpoint of an asset.
func (s *Store) CommitAsset(k pipeline.AssetKey, cp pipeline.AssetCheckpoint) error {
	v := encodeAsset(cp)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAssets).Put(assetKey(k), v)
	})
	if err != nil {
		return fmt.Errorf("commit checkpoint of asset %q to %s: %w", k.AssetHandle, s.path, err)
	}
	return nil
}

// LoadDiscovery returns the discovery cursor of a company, or the zero value.
func (s *Store) LoadDiscovery(company string) (pipeline.DiscoveryCheckpoint, error) {
	var cp pipeline.DiscoveryCheckpoint
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketDiscovery).Get([]byte(company))
		if v == nil {
			return nil
		}
		var err error
		cp, err = decodeDiscovery(v)
		return err
	})
	if err != nil {
		return cp, fmt.Errorf("load discovery checkpoint of company %q: %w: %w", company, pipeline.ErrCorruptState, err)
	}
	return cp, nil
}

// CommitDiscovery durably replaces the discovery cursor of a company.
func (s *Store) CommitDiscovery(company string, cp pipeline.DiscoveryCheckpoint) error {
	v := encodeDiscovery(cp)
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDiscovery).Put([]byte(company), v)
	})
	if err != nil {
		return fmt.Errorf("commit discovery checkpoint of company %q to %s: %w", company, s.path, err)
	}
	return nil
}

// Stats reports how many assets and remembered event ids the store holds.
func (s *Store) Stats() (assets, ids int, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAssets).ForEach(func(_, v []byte) error {
			cp, err := decodeAsset(v)
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

// Value layout (all integers varint/uvarint):
//
//	asset:     version, hasWatermark, watermarkMillis, n, n × (len, id, logDateMillis)
//	discovery: version, hasCursor, cursorMillis, n, n × (len, jobHandle, startMillis)
func encodeTimeSet(t time.Time, set map[string]int64) []byte {
	b := []byte{formatVersion}
	if t.IsZero() {
		b = append(b, 0)
		b = binary.AppendVarint(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, t.UnixMilli())
	}
	b = binary.AppendUvarint(b, uint64(len(set)))
	for id, ms := range set {
		b = binary.AppendUvarint(b, uint64(len(id)))
		b = append(b, id...)
		b = binary.AppendVarint(b, ms)
	}
	return b
}

func decodeTimeSet(v []byte) (time.Time, map[string]int64, error) {
	if len(v) < 2 {
		return time.Time{}, nil, errors.New("value too short")
	}
	if v[0] != formatVersion {
		return time.Time{}, nil, fmt.Errorf("unknown format version %d", v[0])
	}
	has := v[1]
	r := v[2:]
	ms, n := binary.Varint(r)
	if n <= 0 {
		return time.Time{}, nil, errors.New("bad time")
	}
	r = r[n:]
	var t time.Time
	switch has {
	case 0:
	case 1:
		t = time.UnixMilli(ms).UTC()
	default:
		return time.Time{}, nil, fmt.Errorf("bad time flag %d", has)
	}
	count, n := binary.Uvarint(r)
	if n <= 0 || count > uint64(len(r)) {
		return time.Time{}, nil, errors.New("bad count")
	}
	r = r[n:]
	set := make(map[string]int64, count)
	for i := uint64(0); i < count; i++ {
		l, n := binary.Uvarint(r)
		if n <= 0 || l > uint64(len(r)-n) {
			return time.Time{}, nil, fmt.Errorf("bad id length at %d", i)
		}
		id := string(r[n : n+int(l)])
		r = r[n+int(l):]
		ms, n := binary.Varint(r)
		if n <= 0 {
			return time.Time{}, nil, fmt.Errorf("bad time at %d", i)
		}
		r = r[n:]
		set[id] = ms
	}
	if len(r) != 0 {
		return time.Time{}, nil, fmt.Errorf("%d trailing bytes", len(r))
	}
	return t, set, nil
}

func encodeAsset(cp pipeline.AssetCheckpoint) []byte { return encodeTimeSet(cp.Watermark, cp.Recent) }

func decodeAsset(v []byte) (pipeline.AssetCheckpoint, error) {
	t, set, err := decodeTimeSet(v)
	return pipeline.AssetCheckpoint{Watermark: t, Recent: set}, err
}

func encodeDiscovery(cp pipeline.DiscoveryCheckpoint) []byte { return encodeTimeSet(cp.Cursor, cp.Done) }

func decodeDiscovery(v []byte) (pipeline.DiscoveryCheckpoint, error) {
	t, set, err := decodeTimeSet(v)
	return pipeline.DiscoveryCheckpoint{Cursor: t, Done: set}, err
}
