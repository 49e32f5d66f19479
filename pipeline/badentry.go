package pipeline

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// DeadLetterReason says why an entry could not be published: the value of
// the reason label of assetjoblog_dead_letters_total and of a dead letter's
// error class.
type DeadLetterReason string

// Dead-letter reasons.
const (
	// ReasonMalformed is an entry of the log that IPS sent in a shape the
	// source could not decode (a required element missing, an unparsable
	// date, invalid UTF-8), while the rest of the response was fine.
	ReasonMalformed DeadLetterReason = "malformed"
	// ReasonTooLarge is an entry whose record is larger than the topic
	// accepts.
	ReasonTooLarge DeadLetterReason = "too_large"
)

// MaxBadEntryRaw bounds BadEntry.Raw: the raw bytes of a bad entry kept for
// its dead letter.
const MaxBadEntryRaw = 64 << 10

// BadEntry is an entry of an asset's log that the source could not decode,
// in a response whose other entries were fine. The Poller publishes the
// other entries and dead-letters this one once.
type BadEntry struct {
	// Position is the entry's index in the log as the source sent it,
	// counting every entry, bad ones included.
	Position int
	// Element names the part of the entry that was wrong, e.g.
	// "jobLogArray.items[4].logDate".
	Element string
	// Reason says what was wrong with it, e.g. `unparsable dateTime
	// "31/11/2026 25:61"`.
	Reason string
	// Raw is the entry as the source received it (for IPS, the XML of the
	// items element), cut to its first MaxBadEntryRaw bytes.
	Raw []byte
	// RawSize is the size of the whole raw entry, in bytes.
	RawSize int
	// ID identifies the entry across polls: the hex SHA-256 of the whole
	// raw entry, cut to 32 digits. The same bytes give the same ID.
	ID string
}

// NewBadEntry returns the BadEntry at position with its ID, keeping at most
// MaxBadEntryRaw bytes of raw.
func NewBadEntry(position int, element, reason string, raw []byte) BadEntry {
	sum := sha256.Sum256(raw)
	b := BadEntry{Position: position, Element: element, Reason: reason, RawSize: len(raw), ID: hex.EncodeToString(sum[:16])}
	if len(raw) > MaxBadEntryRaw {
		raw = raw[:MaxBadEntryRaw]
	}
	b.Raw = bytes.Clone(raw)
	return b
}

// Error describes what was wrong with the entry.
func (b BadEntry) Error() string {
	return fmt.Sprintf("entry %d: %s: %s", b.Position, b.Element, b.Reason)
}
