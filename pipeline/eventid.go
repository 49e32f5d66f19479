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
	var seen map[string]int
	for i := range entries {
		id := eventID(&entries[i], 0)
		if seen == nil {
			seen = make(map[string]int, len(entries))
		}
		n := seen[id]
		seen[id] = n + 1
		if n > 0 {
			id = eventID(&entries[i], n)
		}
		entries[i].EventID = id
	}
}

func eventID(e *AssetJobLog, ordinal int) string {
	h := sha256.New()
	var scratch [4]byte
	field := func(s string) {
		binary.BigEndian.PutUint32(scratch[:], uint32(len(s)))
		h.Write(scratch[:])
		h.Write([]byte(s))
	}
	field(e.CompanyHandle)
	field(e.AssetHandle)
	field(e.JobHandle)
	field(e.LogType)
	field(strconv.FormatInt(e.LogDate.UnixMilli(), 10))
	field(e.LogMessage)
	field(strconv.Itoa(ordinal))
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}
