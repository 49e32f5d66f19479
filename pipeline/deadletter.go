package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"
)

// ErrRecordTooLarge is returned (wrapped) by a Sink or a RecordChecker when
// a record is larger than the topic accepts. No retry helps; the Poller
// dead-letters the entry instead of failing its asset.
var ErrRecordTooLarge = errors.New("record too large for the topic")

// RecordChecker is implemented by sinks that know the largest record their
// topic accepts. The Poller checks every record before publishing it, so
// that one entry too large for the topic never holds back its neighbours.
type RecordChecker interface {
	// CheckRecord returns an error wrapping ErrRecordTooLarge, saying the
	// size and the limit, when r can never be written; nil otherwise.
	CheckRecord(r Record) error
}

// Headers of a dead-letter record, besides HeaderEventID (the dead
// letter's id) and HeaderContentType ("application/json").
const (
	// HeaderDeadLetterReason holds the DeadLetterReason: the error class.
	HeaderDeadLetterReason = "dead-letter-reason"
	// HeaderDeadLetterError holds what was wrong, at most 1 KiB of it.
	HeaderDeadLetterError = "dead-letter-error"
)

// DeadLetterContentType is the content type of a dead letter's value.
const DeadLetterContentType = "application/json"

// MaxDeadLetterPrefix bounds DeadLetter.RecordPrefix: the start of a
// record too large for the topic, kept in its dead letter.
const MaxDeadLetterPrefix = 64 << 10

// DeadLetter is the value of a dead-letter record, written as JSON: an
// entry of an asset's log that could not be published, with what is needed
// to find it again, understand what was wrong and replay it.
type DeadLetter struct {
	// Reason is the error class: malformed or too_large.
	Reason DeadLetterReason `json:"reason"`
	// ID identifies the dead letter (also in the event-id header): a
	// malformed entry's BadEntry.ID, a too-large entry's event id.
	ID            string `json:"id"`
	CompanyHandle string `json:"companyHandle"`
	AssetHandle   string `json:"assetHandle"`
	// Position is a malformed entry's index in the asset's log, as the
	// source sent it.
	Position *int `json:"position,omitempty"`
	// Element names the part of a malformed entry that was wrong.
	Element string `json:"element,omitempty"`
	// Error says what was wrong.
	Error string `json:"error"`
	// Raw is a malformed entry as the source sent it (the XML of its items
	// element), at most MaxBadEntryRaw bytes of it; RawBase64 holds the
	// same bytes instead when they are not valid UTF-8.
	Raw       string `json:"raw,omitempty"`
	RawBase64 []byte `json:"rawBase64,omitempty"`
	// RawSize is the size of the whole raw entry, and RawTruncated says
	// whether Raw holds less than that.
	RawSize      int  `json:"rawSize,omitempty"`
	RawTruncated bool `json:"rawTruncated,omitempty"`
	// EventID, JobHandle, LogType and LogDate identify a too-large entry.
	EventID   string     `json:"eventId,omitempty"`
	JobHandle string     `json:"jobHandle,omitempty"`
	LogType   string     `json:"logType,omitempty"`
	LogDate   *time.Time `json:"logDate,omitempty"`
	// RecordSize is the size of a too-large entry's record value in bytes,
	// RecordSHA256 the hex SHA-256 of that value, and RecordPrefix (base64
	// in JSON) its first MaxDeadLetterPrefix bytes.
	RecordSize   int    `json:"recordSize,omitempty"`
	RecordSHA256 string `json:"recordSha256,omitempty"`
	RecordPrefix []byte `json:"recordPrefix,omitempty"`
	// ObservedAt is when the producer saw the entry.
	ObservedAt time.Time `json:"observedAt"`
}

// record returns the dead letter as a record keyed by the asset handle.
func (d *DeadLetter) record() (Record, error) {
	value, err := json.Marshal(d)
	if err != nil {
		return Record{}, fmt.Errorf("encode dead letter %s of asset %q: %w", d.ID, d.AssetHandle, err)
	}
	msg := d.Error
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	return Record{
		Key:   []byte(d.AssetHandle),
		Value: value,
		Headers: []Header{
			{Key: HeaderEventID, Value: []byte(d.ID)},
			{Key: HeaderContentType, Value: []byte(DeadLetterContentType)},
			{Key: HeaderDeadLetterReason, Value: []byte(d.Reason)},
			{Key: HeaderDeadLetterError, Value: []byte(msg)},
		},
	}, nil
}

// malformedLetter returns the dead letter of a bad entry, with personal
// data in its raw bytes rewritten as the encoder rewrites submitUserEmail.
func (p *Poller) malformedLetter(asset string, b BadEntry, observed time.Time) DeadLetter {
	raw := p.redact(b.Raw)
	pos := b.Position
	d := DeadLetter{
		Reason: ReasonMalformed, ID: b.ID, CompanyHandle: p.cfg.CompanyHandle, AssetHandle: asset,
		Position: &pos, Element: b.Element, Error: b.Element + ": " + b.Reason,
		RawSize: b.RawSize, RawTruncated: len(b.Raw) < b.RawSize, ObservedAt: observed,
	}
	if utf8.Valid(raw) {
		d.Raw = string(raw)
	} else {
		d.RawBase64 = raw
	}
	return d
}

// tooLargeLetter returns the dead letter of an entry whose record the
// topic refuses.
func (p *Poller) tooLargeLetter(asset string, e *AssetJobLog, r Record, cause error) DeadLetter {
	sum := sha256.Sum256(r.Value)
	prefix := r.Value
	if len(prefix) > MaxDeadLetterPrefix {
		prefix = prefix[:MaxDeadLetterPrefix]
	}
	date := e.LogDate
	return DeadLetter{
		Reason: ReasonTooLarge, ID: e.EventID, CompanyHandle: p.cfg.CompanyHandle, AssetHandle: asset,
		Error: cause.Error(), EventID: e.EventID, JobHandle: e.JobHandle, LogType: e.LogType, LogDate: &date,
		RecordSize: len(r.Value), RecordSHA256: hex.EncodeToString(sum[:]), RecordPrefix: prefix,
		ObservedAt: e.ObservedAt,
	}
}

// emailPattern finds what looks like an e-mail address in raw bytes.
var emailPattern = regexp.MustCompile(`[^\s<>"'&;:/=]+@[^\s<>"'&;:/=]+`)

// redact rewrites every e-mail address in raw as the encoder rewrites
// submitUserEmail (-user-email hash or drop), so that a dead letter holds no
// more personal data than a record. With keep, raw is returned as is.
func (p *Poller) redact(raw []byte) []byte {
	enc, ok := p.cfg.Encoder.(*emailEncoder)
	if !ok {
		return raw
	}
	return emailPattern.ReplaceAllFunc(raw, func(m []byte) []byte { return []byte(enc.rewrite(string(m))) })
}

// checkRecord reports a record the sink says is too large for the topic.
func (p *Poller) checkRecord(r Record) error {
	if c, ok := p.cfg.Sink.(RecordChecker); ok {
		return c.CheckRecord(r)
	}
	return nil
}

// newBadEntries returns the bad entries not yet dead-lettered (absent from
// DeadLetters, or with a write pending), each id once.
func (cp AssetCheckpoint) newBadEntries(bad []BadEntry) []BadEntry {
	var out []BadEntry
	seen := make(map[string]bool)
	for _, b := range bad {
		if v, ok := cp.DeadLetters[b.ID]; ok && v > 0 || seen[b.ID] {
			continue
		}
		seen[b.ID] = true
		out = append(out, b)
	}
	return out
}

// deadLettered returns the DeadLetters of the next checkpoint: the ids of
// the bad entries the source still returns, with when each was first
// dead-lettered.
func (cp AssetCheckpoint) deadLettered(bad []BadEntry, now time.Time) map[string]int64 {
	if len(bad) == 0 {
		return nil
	}
	out := make(map[string]int64, len(bad))
	for _, b := range bad {
		if ms, ok := cp.DeadLetters[b.ID]; ok && ms > 0 {
			out[b.ID] = ms
		} else {
			out[b.ID] = now.UnixMilli()
		}
	}
	return out
}

// publishEntries publishes an asset's records (exactly once when
// Reconcile is set, see publish). When the sink says a record is too large
// for the topic, it publishes them again one at a time and returns the
// indexes of those refused as too large instead of failing; release is then
// the release of every write that succeeded.
func (p *Poller) publishEntries(ctx context.Context, asset string, records []Record) (release func(), tooLarge []int, err error) {
	if len(records) == 0 {
		return func() {}, nil, nil
	}
	release, onTopic, err := p.publishOutcome(ctx, asset, records)
	if err == nil || !errors.Is(err, ErrRecordTooLarge) {
		return release, nil, err
	}
	var releases []func()
	for i := range records {
		if onTopic[i] {
			continue // acknowledged by the first attempt: sending it again would duplicate it
		}
		rel, err := p.publish(ctx, asset, records[i:i+1])
		switch {
		case errors.Is(err, ErrRecordTooLarge):
			tooLarge = append(tooLarge, i)
		case err != nil:
			return nil, nil, err
		default:
			releases = append(releases, rel)
		}
	}
	return func() {
		for _, r := range releases {
			r()
		}
	}, tooLarge, nil
}

func (p *Poller) publishRetried(ctx context.Context, sink Sink, records []Record) error {
	return p.retrySink().Do(ctx, func(ctx context.Context) error {
		start := p.cfg.Now()
		err := sink.Publish(ctx, records)
		p.cfg.Metrics.publishAttempt(p.cfg.Now().Sub(start), err)
		return err
	})
}

// deadLetter writes the dead letters of an asset to DeadLetters, or, when
// there is no dead-letter sink, logs each at error level. Either way each
// is counted in assetjoblog_dead_letters_total.
func (p *Poller) deadLetter(ctx context.Context, letters []DeadLetter) error {
	if len(letters) == 0 {
		return nil
	}
	if p.cfg.DeadLetters == nil {
		for i := range letters {
			d := &letters[i]
			attrs := []any{"asset", d.AssetHandle, "reason", string(d.Reason), "id", d.ID, "error", d.Error}
			if d.Position != nil {
				attrs = append(attrs, "position", *d.Position, "raw", d.rawText(), "raw_size", d.RawSize)
			} else {
				attrs = append(attrs, "event_id", d.EventID, "job_handle", d.JobHandle, "log_type", d.LogType,
					"log_date", d.LogDate, "record_size", d.RecordSize, "record_sha256", d.RecordSHA256)
			}
			p.cfg.Logger.Error("entry not published (no dead-letter topic configured): logged once instead", attrs...)
			p.cfg.Metrics.deadLetter(d.Reason)
		}
		return nil
	}
	records := make([]Record, len(letters))
	for i := range letters {
		r, err := letters[i].record()
		if err != nil {
			return err
		}
		records[i] = r
	}
	if err := p.publishRetried(ctx, p.cfg.DeadLetters, records); err != nil {
		return fmt.Errorf("publish %d dead letters: %w", len(records), err)
	}
	for i := range letters {
		d := &letters[i]
		p.cfg.Metrics.deadLetter(d.Reason)
		p.cfg.Logger.Warn("entry dead-lettered", "asset", d.AssetHandle, "reason", string(d.Reason), "id", d.ID,
			"error", d.Error, "position", positionString(d.Position), "event_id", d.EventID)
	}
	return nil
}

// deadLetterReader is a dead-letter sink that can be read back.
type deadLetterReader interface {
	TopicReader
	Partitioner
}

// A dead-letter id in AssetCheckpoint.DeadLetters maps to when it was
// written (Unix milliseconds, positive), or, while its write is in flight,
// to a pending mark: the end offset of its dead-letter partition before the
// write, as -(offset+1).
func pendingMark(offset int64) int64 { return -offset - 1 }

func pendingOffset(v int64) (int64, bool) { return -v - 1, v < 0 }

// writeDeadLetters writes an asset's dead letters once, even across a crash,
// when the dead-letter sink can be read back: first mark commits the
// asset's checkpoint with a pending mark for each (the partition's end
// offset), then the dead letters are written. A later run that finds pending
// marks reads the partition back from the earliest and does not write again
// what is there. A sink that cannot be read back gets its dead letters
// again after such a crash. Without a dead-letter sink they are logged.
func (p *Poller) writeDeadLetters(ctx context.Context, asset string, cp AssetCheckpoint, dead []DeadLetter, mark func(map[string]int64) error) error {
	if len(dead) == 0 {
		return nil
	}
	r, ok := p.cfg.DeadLetters.(deadLetterReader)
	if !ok {
		return p.deadLetter(ctx, dead)
	}
	part := r.Partition([]byte(asset))
	from, pending := int64(0), false
	for _, d := range dead {
		if off, ok := pendingOffset(cp.DeadLetters[d.ID]); ok && (!pending || off < from) {
			from, pending = off, true
		}
	}
	write := dead
	if pending {
		found, err := p.readDeadLetters(ctx, r, asset, part, from)
		if err != nil {
			// Never let the dead-letter topic block the asset: write again.
			p.cfg.Logger.Warn("cannot read the dead-letter topic back; writing the asset's pending dead letters again",
				"asset", asset, "partition", part, "from", from, "err", err)
		}
		write = nil
		for _, d := range dead {
			if found[d.ID] {
				p.cfg.Logger.Info("dead letter found on the dead-letter topic after a restart; not written again",
					"asset", asset, "id", d.ID, "reason", string(d.Reason))
				continue
			}
			write = append(write, d)
		}
		if len(write) == 0 {
			return nil
		}
	}
	var end int64
	err := p.retrySink().Do(ctx, func(ctx context.Context) error {
		var err error
		end, err = r.EndOffset(ctx, part)
		return err
	})
	if err != nil {
		return fmt.Errorf("end offset of dead-letter partition %d: %w", part, err)
	}
	marks := make(map[string]int64, len(dead))
	for _, d := range dead {
		if v, ok := cp.DeadLetters[d.ID]; ok && v < 0 {
			marks[d.ID] = v // the earlier bound still precedes its write
		} else {
			marks[d.ID] = pendingMark(end)
		}
	}
	if err := mark(marks); err != nil {
		return err
	}
	return p.deadLetter(ctx, write)
}

// readDeadLetters returns the ids of the asset's dead letters in partition
// part from offset from on.
func (p *Poller) readDeadLetters(ctx context.Context, r TopicReader, asset string, part int32, from int64) (map[string]bool, error) {
	var recs []PublishedRecord
	err := p.retrySink().Do(ctx, func(ctx context.Context) error {
		var err error
		recs, _, err = r.ReadTail(ctx, part, from)
		return err
	})
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, rec := range recs {
		if rec.Key == asset {
			ids[rec.EventID] = true
		}
	}
	return ids, nil
}

// rawText is Raw, or RawBase64 in base64 when Raw could not hold it.
func (d *DeadLetter) rawText() string {
	if d.RawBase64 != nil {
		return "base64:" + base64.StdEncoding.EncodeToString(d.RawBase64)
	}
	return d.Raw
}

func positionString(p *int) string {
	if p == nil {
		return ""
	}
	return strconv.Itoa(*p)
}
