package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"
)

// The state codec: one byte layout for every store. All integers are
// varint/uvarint; each value ends with a 4-byte little-endian CRC-32C of the
// key's bytes (StateKey.Bytes) and everything before it, so that a flipped
// bit a store does not checksum itself is caught instead of moving a
// watermark, and a value copied under another key is refused.
//
//	asset v1:  1, hasWatermark, watermarkMillis, n, n × (len, id, logDateMillis), crc
//	asset v2:  2, hasWatermark, watermarkMillis, n, n × (len, id, logDateMillis),
//	           m, m × (len, deadLetterID, deadLetteredMillis or -(pendingOffset+1)), crc
//	discovery: version, hasCursor, cursorMillis, n, n × (len, jobHandle, startMillis), crc
//	           version 2 adds, before the crc: m, m × (len, runningJobHandle, rowsProcessed);
//	           version 1 is still written when there is no running job, and read
//	backfill:  version, complete, startedMillis, done, len, lastHandle, crc
//	bounds:    version, offset, crc
//	topic:     version, len, clusterID, len, topic, 16-byte topic id, crc
//
// A format change adds a version and keeps reading the older ones. An asset
// checkpoint without dead letters is still written as version 1, so that
// an earlier release can read it.

// formatVersion is the first byte of every value written; versions after
// it are listed below it.
const formatVersion = 1

// assetFormatDeadLetters is the version of an asset checkpoint that
// remembers dead letters.
const assetFormatDeadLetters = 2

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func checksum(key, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, payload)
}

// seal appends the checksum of key and payload to payload.
func seal(key StateKey, payload []byte) []byte {
	return binary.LittleEndian.AppendUint32(payload, checksum(key.Bytes(), payload))
}

// unseal checks and strips a value's checksum and returns its payload.
func unseal(key StateKey, v []byte) ([]byte, error) {
	if len(v) < 4 {
		return nil, errors.New("value too short")
	}
	payload, sum := v[:len(v)-4], binary.LittleEndian.Uint32(v[len(v)-4:])
	if checksum(key.Bytes(), payload) != sum {
		return nil, errors.New("checksum mismatch")
	}
	return payload, nil
}

// openPayload checks a value's checksum and version and returns the rest.
func openPayload(key StateKey, v []byte) ([]byte, error) {
	payload, err := unseal(key, v)
	if err != nil {
		return nil, err
	}
	if len(payload) < 1 {
		return nil, errors.New("value too short")
	}
	if payload[0] != formatVersion {
		return nil, fmt.Errorf("unknown format version %d", payload[0])
	}
	return payload[1:], nil
}

func encodeTimeSet(key StateKey, t time.Time, set map[string]int64) []byte {
	return seal(key, appendTimeSet([]byte{formatVersion}, t, set))
}

func decodeTimeSet(key StateKey, v []byte) (time.Time, map[string]int64, error) {
	r, err := openPayload(key, v)
	if err != nil {
		return time.Time{}, nil, err
	}
	return readWholeTimeSet(r)
}

// readWholeTimeSet reads what appendTimeSet wrote and refuses anything
// after it.
func readWholeTimeSet(r []byte) (time.Time, map[string]int64, error) {
	t, set, rest, err := readTimeSet(r)
	if err != nil {
		return time.Time{}, nil, err
	}
	if len(rest) != 0 {
		return time.Time{}, nil, fmt.Errorf("%d trailing bytes", len(rest))
	}
	return t, set, nil
}

// appendTimeSet appends an optional instant and a set of ids with their
// instants in Unix milliseconds.
func appendTimeSet(b []byte, t time.Time, set map[string]int64) []byte {
	if t.IsZero() {
		b = append(b, 0)
		b = binary.AppendVarint(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, t.UnixMilli())
	}
	return appendIDs(b, set)
}

// appendIDs appends a set of ids with their instants in Unix milliseconds.
func appendIDs(b []byte, set map[string]int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(set)))
	for id, ms := range set {
		b = binary.AppendVarint(appendString(b, id), ms)
	}
	return b
}

// readIDs reads what appendIDs wrote and returns the rest.
func readIDs(r []byte) (map[string]int64, []byte, error) {
	count, n := binary.Uvarint(r)
	if n <= 0 || count > uint64(len(r)) {
		return nil, nil, errors.New("bad count")
	}
	r = r[n:]
	set := make(map[string]int64, count)
	for i := uint64(0); i < count; i++ {
		id, rest, err := readString(r)
		if err != nil {
			return nil, nil, fmt.Errorf("id at %d: %w", i, err)
		}
		r = rest
		ms, n := binary.Varint(r)
		if n <= 0 {
			return nil, nil, fmt.Errorf("bad time at %d", i)
		}
		r = r[n:]
		set[id] = ms
	}
	return set, r, nil
}

// readTimeSet reads what appendTimeSet wrote and returns the rest.
func readTimeSet(r []byte) (time.Time, map[string]int64, []byte, error) {
	if len(r) < 1 {
		return time.Time{}, nil, nil, errors.New("value too short")
	}
	has := r[0]
	r = r[1:]
	ms, n := binary.Varint(r)
	if n <= 0 {
		return time.Time{}, nil, nil, errors.New("bad time")
	}
	r = r[n:]
	var t time.Time
	switch has {
	case 0:
	case 1:
		t = time.UnixMilli(ms).UTC()
	default:
		return time.Time{}, nil, nil, fmt.Errorf("bad time flag %d", has)
	}
	set, r, err := readIDs(r)
	if err != nil {
		return time.Time{}, nil, nil, err
	}
	return t, set, r, nil
}

func encodeAsset(key StateKey, cp AssetCheckpoint) []byte {
	if len(cp.DeadLetters) == 0 {
		return encodeTimeSet(key, cp.Watermark, cp.Recent)
	}
	b := appendTimeSet([]byte{assetFormatDeadLetters}, cp.Watermark, cp.Recent)
	b = appendIDs(b, cp.DeadLetters)
	return seal(key, b)
}

func decodeAsset(key StateKey, v []byte) (AssetCheckpoint, error) {
	payload, err := unseal(key, v)
	if err != nil {
		return AssetCheckpoint{}, err
	}
	if len(payload) < 1 {
		return AssetCheckpoint{}, errors.New("value too short")
	}
	version := payload[0]
	if version != formatVersion && version != assetFormatDeadLetters {
		return AssetCheckpoint{}, fmt.Errorf("unknown format version %d", version)
	}
	t, set, rest, err := readTimeSet(payload[1:])
	if err != nil {
		return AssetCheckpoint{}, err
	}
	cp := AssetCheckpoint{Watermark: t, Recent: set}
	if version == assetFormatDeadLetters {
		if cp.DeadLetters, rest, err = readIDs(rest); err != nil {
			return AssetCheckpoint{}, fmt.Errorf("dead letters: %w", err)
		}
	}
	if len(rest) != 0 {
		return AssetCheckpoint{}, fmt.Errorf("%d trailing bytes", len(rest))
	}
	return cp, nil
}

// discoveryRowsVersion is the discovery format with the row cursors of
// running jobs.
const discoveryRowsVersion = 2

func encodeDiscovery(key StateKey, cp DiscoveryCheckpoint) []byte {
	if len(cp.Rows) == 0 {
		return encodeTimeSet(key, cp.Cursor, cp.Done)
	}
	b := appendTimeSet([]byte{discoveryRowsVersion}, cp.Cursor, cp.Done)
	b = binary.AppendUvarint(b, uint64(len(cp.Rows)))
	for h, n := range cp.Rows {
		b = binary.AppendUvarint(appendString(b, h), uint64(n))
	}
	return seal(key, b)
}

func decodeDiscovery(key StateKey, v []byte) (DiscoveryCheckpoint, error) {
	payload, err := unseal(key, v)
	if err != nil {
		return DiscoveryCheckpoint{}, err
	}
	if len(payload) < 1 {
		return DiscoveryCheckpoint{}, errors.New("value too short")
	}
	switch payload[0] {
	case formatVersion:
		t, set, err := readWholeTimeSet(payload[1:])
		return DiscoveryCheckpoint{Cursor: t, Done: set}, err
	case discoveryRowsVersion:
	default:
		return DiscoveryCheckpoint{}, fmt.Errorf("unknown format version %d", payload[0])
	}
	t, set, r, err := readTimeSet(payload[1:])
	if err != nil {
		return DiscoveryCheckpoint{}, err
	}
	count, n := binary.Uvarint(r)
	if n <= 0 || count > uint64(len(r)) {
		return DiscoveryCheckpoint{}, errors.New("bad running job count")
	}
	r = r[n:]
	rows := make(map[string]int, count)
	for i := uint64(0); i < count; i++ {
		h, rest, err := readString(r)
		if err != nil {
			return DiscoveryCheckpoint{}, fmt.Errorf("job handle at %d: %w", i, err)
		}
		r = rest
		rc, n := binary.Uvarint(r)
		if n <= 0 || rc > 1<<40 {
			return DiscoveryCheckpoint{}, fmt.Errorf("bad row count at %d", i)
		}
		r = r[n:]
		rows[h] = int(rc)
	}
	if len(r) != 0 {
		return DiscoveryCheckpoint{}, fmt.Errorf("%d trailing bytes", len(r))
	}
	return DiscoveryCheckpoint{Cursor: t, Done: set, Rows: rows}, nil
}

func encodeBackfill(key StateKey, cp BackfillCheckpoint) []byte {
	b := []byte{formatVersion, 0}
	if cp.Complete {
		b[1] = 1
	}
	b = binary.AppendVarint(b, cp.Started.UnixMilli())
	b = binary.AppendUvarint(b, uint64(cp.Done))
	return seal(key, appendString(b, cp.LastHandle))
}

func decodeBackfill(key StateKey, v []byte) (BackfillCheckpoint, error) {
	var cp BackfillCheckpoint
	r, err := openPayload(key, v)
	if err != nil {
		return cp, err
	}
	if len(r) < 1 {
		return cp, errors.New("value too short")
	}
	switch r[0] {
	case 0:
	case 1:
		cp.Complete = true
	default:
		return cp, fmt.Errorf("bad complete flag %d", r[0])
	}
	r = r[1:]
	ms, n := binary.Varint(r)
	if n <= 0 {
		return cp, errors.New("bad start time")
	}
	cp.Started = time.UnixMilli(ms).UTC()
	r = r[n:]
	done, n := binary.Uvarint(r)
	if n <= 0 || done > 1<<40 {
		return cp, errors.New("bad done count")
	}
	cp.Done = int(done)
	if cp.LastHandle, r, err = readString(r[n:]); err != nil {
		return cp, fmt.Errorf("last handle: %w", err)
	}
	if len(r) != 0 {
		return cp, fmt.Errorf("%d trailing bytes", len(r))
	}
	return cp, nil
}

func encodeBound(key StateKey, offset int64) []byte {
	return seal(key, binary.AppendVarint([]byte{formatVersion}, offset))
}

func decodeBound(key StateKey, v []byte) (int64, error) {
	r, err := openPayload(key, v)
	if err != nil {
		return 0, err
	}
	offset, n := binary.Varint(r)
	switch {
	case n <= 0:
		return 0, errors.New("bad offset")
	case n != len(r):
		return 0, fmt.Errorf("%d trailing bytes", len(r)-n)
	case offset < 0:
		return 0, fmt.Errorf("negative offset %d", offset)
	}
	return offset, nil
}

// appendString appends s with its length before it.
func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// readString reads what appendString wrote and returns the rest.
func readString(r []byte) (string, []byte, error) {
	l, n := binary.Uvarint(r)
	if n <= 0 || l > uint64(len(r)-n) {
		return "", nil, errors.New("bad string length")
	}
	return string(r[n : n+int(l)]), r[n+int(l):], nil
}

func encodeTopic(key StateKey, t TopicIdentity) []byte {
	b := appendString([]byte{formatVersion}, t.ClusterID)
	b = appendString(b, t.Topic)
	return seal(key, append(b, t.TopicID[:]...))
}

func decodeTopic(key StateKey, v []byte) (TopicIdentity, error) {
	var t TopicIdentity
	r, err := openPayload(key, v)
	if err != nil {
		return t, err
	}
	if t.ClusterID, r, err = readString(r); err != nil {
		return t, fmt.Errorf("cluster id: %w", err)
	}
	if t.Topic, r, err = readString(r); err != nil {
		return t, fmt.Errorf("topic: %w", err)
	}
	if len(r) != len(t.TopicID) {
		return t, fmt.Errorf("topic id of %d bytes, want %d", len(r), len(t.TopicID))
	}
	copy(t.TopicID[:], r)
	return t, nil
}
