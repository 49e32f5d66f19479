package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
)

// AssignEventIDs sets EventID on every entry of one asset's log.
//
// The id is the lowercase hex of the first 16 bytes of SHA-256 over these
// fields, each written as a 4-byte big-endian length followed by its UTF-8
// bytes: companyHandle, assetHandle, jobHandle, logType, logDate (decimal
// Unix epoch milliseconds), logMessage, and the entry's ordinal among the
// entries of the same log with an identical tuple of those six fields (0 for
// the first, in the order IPS returned them). The same entry polled again, by
// another process or after a restart, gets the same id; distinct entries of
// an asset get distinct ids. The auxArray, submitUserEmail and observedAt are
// not part of the recipe. logMessage is localised by IPS, so the locale the
// producer asks for must not change over the life of a topic.
func AssignEventIDs(entries []AssetJobLog) {
	var seen map[[16]byte]int
	var buf []byte
	for i := range entries {
		var id [16]byte
		buf, id = eventID(buf[:0], &entries[i], 0)
		if seen == nil {
			seen = make(map[[16]byte]int, len(entries))
		}
		n := seen[id]
		seen[id] = n + 1
		if n > 0 {
			buf, id = eventID(buf[:0], &entries[i], n)
		}
		entries[i].EventID = hex.EncodeToString(id[:])
	}
}

// eventID hashes the recipe's fields, building them in buf (returned for
// reuse), and returns the first 16 bytes of the digest.
func eventID(buf []byte, e *AssetJobLog, ordinal int) ([]byte, [16]byte) {
	field := func(s string) {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(s)))
		buf = append(buf, s...)
	}
	field(e.CompanyHandle)
	field(e.AssetHandle)
	field(e.JobHandle)
	field(e.LogType)
	var num [20]byte
	field(string(strconv.AppendInt(num[:0], e.LogDate.UnixMilli(), 10)))
	field(e.LogMessage)
	field(string(strconv.AppendInt(num[:0], int64(ordinal), 10)))
	sum := sha256.Sum256(buf)
	return buf, [16]byte(sum[:16])
}
