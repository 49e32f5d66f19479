package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
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

// maxBatchDelay is how long a commit waits for others to share its
// transaction.
const maxBatchDelay = 2 * time.Millisecond

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
	return &Store{db: db, path: path}, nil
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
		for _, name := range [][]byte{bucketAssets, bucketDiscovery} {
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
				var err error
				if bytes.Equal(name, bucketAssets) {
					_, err = decodeAsset(k, v)
				} else {
					_, err = decodeDiscovery(k, v)
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

func assetKey(k pipeline.AssetKey) []byte {
	return []byte(k.CompanyHandle + "\x00" + k.AssetHandle)
}

// LoadAsset returns the checkpoint of an asset, or the zero value.
func (s *Store) LoadAsset(k pipeline.AssetKey) (pipeline.AssetCheckpoint, error) {
	var cp pipeline.AssetCheckpoint
	err := s.db.View(func(tx *bolt.Tx) error {
		key := assetKey(k)
		v := tx.Bucket(bucketAssets).Get(key)
		if v == nil {
			return nil
		}
		var err error
		cp, err = decodeAsset(key, v)
		return err
	})
	if err != nil {
		return cp, fmt.Errorf("load checkpoint of asset %q: %w: %w", k.AssetHandle, pipeline.ErrCorruptState, err)
	}
	return cp, nil
}

// CommitAsset durably replaces the checkpoint of an asset.
func (s *Store) CommitAsset(k pipeline.AssetKey, cp pipeline.AssetCheckpoint) error {
	key := assetKey(k)
	v := encodeAsset(key, cp)
	err := s.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAssets).Put(key, v)
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
		cp, err = decodeDiscovery([]byte(company), v)
		return err
	})
	if err != nil {
		return cp, fmt.Errorf("load discovery checkpoint of company %q: %w: %w", company, pipeline.ErrCorruptState, err)
	}
	return cp, nil
}

// CommitDiscovery durably replaces the discovery cursor of a company.
func (s *Store) CommitDiscovery(company string, cp pipeline.DiscoveryCheckpoint) error {
	v := encodeDiscovery([]byte(company), cp)
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
		return tx.Bucket(bucketAssets).ForEach(func(k, v []byte) error {
			cp, err := decodeAsset(k, v)
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

// Value layout (all integers varint/uvarint), followed by a 4-byte
// little-endian CRC-32C of the bucket key and everything before it, so that
// a flipped bit in a page bbolt does not checksum is caught instead of
// moving a watermark:
//
//	asset:     version, hasWatermark, watermarkMillis, n, n × (len, id, logDateMillis), crc
//	discovery: version, hasCursor, cursorMillis, n, n × (len, jobHandle, startMillis), crc
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(key, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
}

func encodeTimeSet(key []byte, t time.Time, set map[string]int64) []byte {
	b := encodePayload(t, set)
	return binary.LittleEndian.AppendUint32(b, checksum(key, b))
}

func decodeTimeSet(key, v []byte) (time.Time, map[string]int64, error) {
	if len(v) < 4 {
		return time.Time{}, nil, errors.New("value too short")
	}
	payload, sum := v[:len(v)-4], binary.LittleEndian.Uint32(v[len(v)-4:])
	if checksum(key, payload) != sum {
		return time.Time{}, nil, errors.New("checksum mismatch")
	}
	return decodePayload(payload)
}

func encodePayload(t time.Time, set map[string]int64) []byte {
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

func decodePayload(v []byte) (time.Time, map[string]int64, error) {
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

func encodeAsset(key []byte, cp pipeline.AssetCheckpoint) []byte {
	return encodeTimeSet(key, cp.Watermark, cp.Recent)
}

func decodeAsset(key, v []byte) (pipeline.AssetCheckpoint, error) {
	t, set, err := decodeTimeSet(key, v)
	return pipeline.AssetCheckpoint{Watermark: t, Recent: set}, err
}

func encodeDiscovery(key []byte, cp pipeline.DiscoveryCheckpoint) []byte {
	return encodeTimeSet(key, cp.Cursor, cp.Done)
}

func decodeDiscovery(key, v []byte) (pipeline.DiscoveryCheckpoint, error) {
	t, set, err := decodeTimeSet(key, v)
	return pipeline.DiscoveryCheckpoint{Cursor: t, Done: set}, err
}
