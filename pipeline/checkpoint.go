package pipeline

import (
	"errors"
	"sort"
	"time"
)

// AssetCheckpoint is what the producer remembers of one asset: enough to
// tell which entries of its log were already published, in bounded space.
//
// Every entry whose LogDate is at or before Watermark counts as published.
// Entries after the watermark count as published when their event id is in
// Recent. After each publish the watermark moves up to the newest published
// LogDate minus the late-arrival window, but never past the time of the
// publish minus that window, whatever the dates say: an entry dated in the
// future (a skewed IPS clock, a mislabelled time zone) would otherwise hide
// every real entry still to come. Ids at or before the watermark are
// dropped, so Recent only holds the entries of that window, plus those
// dated ahead of the clock until the clock passes them.
type AssetCheckpoint struct {
	Watermark time.Time
	// Recent maps the event ids published after Watermark to their LogDate in
	// Unix milliseconds.
	Recent map[string]int64
	// DeadLetters maps the ids of the asset's bad entries (BadEntry.ID)
	// that were dead-lettered to when, in Unix milliseconds. An id stays
	// while the source keeps returning that entry, so it is dead-lettered
	// once; it is dropped once the entry is gone from the log (fixed, or
	// removed).
	DeadLetters map[string]int64
}

// AssetKey identifies an asset of a company in the checkpoint store.
type AssetKey struct {
	CompanyHandle string
	AssetHandle   string
}

// AssetCheckpoints is the durable store of per-asset checkpoints.
//
// Implementations make CommitAsset durable before returning (a crash after
// it returns keeps the commit; a crash during it keeps the previous value)
// and are safe for concurrent use.
type AssetCheckpoints interface {
	// LoadAsset returns the asset's checkpoint; the zero value when there is none.
	LoadAsset(key AssetKey) (AssetCheckpoint, error)
	CommitAsset(key AssetKey, cp AssetCheckpoint) error
}

// ErrCorruptState is returned (wrapped) by checkpoint stores whose data
// cannot be read back; the producer refuses to publish rather than start
// over and re-publish the whole history.
var ErrCorruptState = errors.New("checkpoint state is corrupt")

// AfterWatermark returns the entries of log dated after the watermark (all
// of them when there is none), in the order given. Entries at or before it
// count as published whatever their id, so ids need only be computed for
// these; an id's ordinal is unaffected, since entries with identical
// tuples share their logDate.
func (cp AssetCheckpoint) AfterWatermark(log []AssetJobLog) []AssetJobLog {
	if cp.Watermark.IsZero() {
		return log
	}
	var out []AssetJobLog
	for i := range log {
		if log[i].LogDate.After(cp.Watermark) {
			out = append(out, log[i])
		}
	}
	return out
}

// Unpublished returns the entries of log that cp does not count as
// published, sorted by LogDate (stable, so entries with equal dates keep
// IPS's order). The entries must carry their EventIDs.
func (cp AssetCheckpoint) Unpublished(log []AssetJobLog) []AssetJobLog {
	var out []AssetJobLog
	for i := range log {
		e := &log[i]
		if !cp.Watermark.IsZero() && !e.LogDate.After(cp.Watermark) {
			continue
		}
		if _, ok := cp.Recent[e.EventID]; ok {
			continue
		}
		out = append(out, *e)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].LogDate.Before(out[j].LogDate) })
	return out
}

// Advance returns the checkpoint after the given entries were published at
// now, keeping ids within window of the newest published LogDate, or of now
// when that is earlier. It does not modify cp.
func (cp AssetCheckpoint) Advance(published []AssetJobLog, window time.Duration, now time.Time) AssetCheckpoint {
	next := AssetCheckpoint{Watermark: cp.Watermark, Recent: make(map[string]int64, len(cp.Recent)+len(published)), DeadLetters: cp.DeadLetters}
	var newest int64 = -1 << 63
	for id, ms := range cp.Recent {
		next.Recent[id] = ms
		if ms > newest {
			newest = ms
		}
	}
	for i := range published {
		ms := published[i].LogDate.UnixMilli()
		next.Recent[published[i].EventID] = ms
		if ms > newest {
			newest = ms
		}
	}
	if len(next.Recent) == 0 {
		return next
	}
	if present := now.UnixMilli(); newest > present {
		newest = present
	}
	mark := time.UnixMilli(newest).Add(-window).UTC()
	if mark.After(next.Watermark) {
		next.Watermark = mark
	}
	for id, ms := range next.Recent {
		if !time.UnixMilli(ms).After(next.Watermark) {
			delete(next.Recent, id)
		}
	}
	return next
}
