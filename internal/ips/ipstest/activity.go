package ipstest

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// JobHandle is the jobHandle of a job, as IPS sends it.
type JobHandle string

// Errors of the job methods.
var (
	// ErrUnknownJob is returned by AppendToJob and EndJob for a handle the
	// simulator did not create with AddActivity or StartJob.
	ErrUnknownJob = errors.New("ipstest: unknown job")
	// ErrJobEnded is returned by AppendToJob and EndJob for a job that has
	// already ended.
	ErrJobEnded = errors.New("ipstest: job has already ended")
)

type rowRef struct{ asset, idx int }

// addedJob is a job created while the server runs.
type addedJob struct {
	info     jobInfo // info.end is zero while running; info.rows counts rows
	rows     []rowRef
	lastDate time.Time
}

// AddActivity runs a whole job now: it starts at the clock's reading, writes
// entriesPerAsset entries to each listed asset (an index listed twice gets
// twice the entries) with logDate = now at millisecond precision, moved
// forward by a millisecond where needed to stay strictly increasing per
// asset, and ends at the newest of those dates. It panics if an index is
// outside the catalog.
func (h *Handler) AddActivity(assetIndexes []int, entriesPerAsset int) JobHandle {
	h.checkAssets(assetIndexes)
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.cfg.now()
	j := h.newJobLocked(now)
	h.appendLocked(j, assetIndexes, entriesPerAsset, now)
	h.endLocked(j, now)
	return JobHandle(j.info.handle)
}

// StartJob starts a job that stays running (getJobLogs lists it without
// endDate) until EndJob, writing entries like AddActivity. It panics if an
// index is outside the catalog.
func (h *Handler) StartJob(assetIndexes []int, entriesPerAsset int) JobHandle {
	h.checkAssets(assetIndexes)
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.cfg.now()
	j := h.newJobLocked(now)
	h.appendLocked(j, assetIndexes, entriesPerAsset, now)
	return JobHandle(j.info.handle)
}

// AppendToJob writes entriesPerAsset more entries of a running job to each
// listed asset, dated now. It returns ErrUnknownJob or ErrJobEnded, and
// panics if an index is outside the catalog.
func (h *Handler) AppendToJob(job JobHandle, assetIndexes []int, entriesPerAsset int) error {
	h.checkAssets(assetIndexes)
	h.mu.Lock()
	defer h.mu.Unlock()
	j, err := h.runningJobLocked(job)
	if err != nil {
		return err
	}
	h.appendLocked(j, assetIndexes, entriesPerAsset, h.cfg.now())
	return nil
}

// EndJob ends a running job now (or at its newest entry, if later). It
// returns ErrUnknownJob or ErrJobEnded.
func (h *Handler) EndJob(job JobHandle) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	j, err := h.runningJobLocked(job)
	if err != nil {
		return err
	}
	h.endLocked(j, h.cfg.now())
	return nil
}

func (h *Handler) checkAssets(idx []int) {
	for _, i := range idx {
		if n := h.numAssets(); i < 0 || i >= n {
			panic(fmt.Sprintf("ipstest: asset index %d outside [0,%d)", i, n))
		}
	}
}

func (h *Handler) runningJobLocked(job JobHandle) (*addedJob, error) {
	j, ok := h.jobsByKey[string(job)]
	if !ok {
		return nil, fmt.Errorf("job %q: %w", job, ErrUnknownJob)
	}
	if !j.info.end.IsZero() {
		return nil, fmt.Errorf("job %q: %w", job, ErrJobEnded)
	}
	return j, nil
}

func (h *Handler) newJobLocked(now time.Time) *addedJob {
	seq := h.cat.baseJobs() + len(h.jobs)
	j := &addedJob{info: h.cat.newJobInfo(seq, now.Truncate(time.Millisecond).UTC())}
	h.jobs = append(h.jobs, j)
	h.jobsByKey[j.info.handle] = j
	return j
}

func (h *Handler) appendLocked(j *addedJob, assets []int, n int, now time.Time) {
	ms := now.Truncate(time.Millisecond).UTC()
	for _, i := range assets {
		a := h.cat.asset(i)
		for range n {
			last := h.cat.lastBaseDate(i)
			if prev := h.added[i]; len(prev) > 0 {
				last = prev[len(prev)-1].LogDate
			}
			date := ms
			if !date.After(last) {
				date = last.Add(time.Millisecond)
			}
			row := len(j.rows)
			lt := &logTypes[logTypeTable[hash3(h.cat.seed, saltAdded, j.info.seq, row)%100]]
			e := Entry{
				CompanyHandle:   h.cat.company,
				AssetHandle:     a.handle,
				AssetIndex:      i,
				JobHandle:       j.info.handle,
				JobName:         j.info.name,
				LogMessage:      lt.pre + a.path + lt.post,
				LogType:         lt.name,
				SubmitUserEmail: j.info.submitter,
				LogDate:         date,
				Created:         now,
			}
			e.AuxArray = h.cat.aux(hash3(h.cat.seed, saltAddedAux, j.info.seq, row), &a, date)
			h.added[i] = append(h.added[i], e)
			j.rows = append(j.rows, rowRef{asset: i, idx: len(h.added[i]) - 1})
			j.info.rows++
			h.addedTotal++
			if date.After(j.lastDate) {
				j.lastDate = date
			}
		}
	}
}

func (h *Handler) endLocked(j *addedJob, now time.Time) {
	end := now.Truncate(time.Millisecond).UTC()
	if j.lastDate.After(end) {
		end = j.lastDate
	}
	if end.Before(j.info.start) {
		end = j.info.start
	}
	j.info.end = end
}

// Entries returns asset i's log as getAssetJobLogs serves it now. It panics
// if i is outside the catalog.
func (h *Handler) Entries(i int) []Entry {
	h.checkAssets([]int{i})
	out := make([]Entry, 0, h.cat.entries)
	h.cat.baseEntries(i, func(e *Entry) { out = append(out, *e) })
	return append(out, h.addedEntries(i)...)
}

// AllEntries returns every entry of every asset, asset by asset. It
// materialises the whole catalog: use it with small catalogs only.
func (h *Handler) AllEntries() []Entry {
	var out []Entry
	for i := range h.numAssets() {
		out = append(out, h.Entries(i)...)
	}
	return out
}

// TotalEntries returns the number of entries of all assets, base and added.
func (h *Handler) TotalEntries() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.cat.assets*h.cat.entries + h.addedTotal
}

// Jobs returns the handles of the jobs created while running, oldest first.
func (h *Handler) Jobs() []JobHandle {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]JobHandle, len(h.jobs))
	for i, j := range h.jobs {
		out[i] = JobHandle(j.info.handle)
	}
	return out
}

// StartActivity adds about perSecond entries per second in the background,
// on assets drawn from the seeded generator, one job (started and ended at
// once) per tick of max(250ms, 1/perSecond). It returns at once; the
// activity stops when ctx is done or the Handler closes. perSecond <= 0
// does nothing.
func (h *Handler) StartActivity(ctx context.Context, perSecond float64) {
	if perSecond <= 0 || h.cat.assets == 0 {
		return
	}
	h.atRate(ctx, perSecond, func(due int) { h.AddActivity(h.randomAssets(due), 1) })
}

// atRate calls add in the background with the number of events due since
// it started at perSecond, once per tick of max(250ms, 1/perSecond) when
// that number is above zero, until ctx is done or the Handler closes.
func (h *Handler) atRate(ctx context.Context, perSecond float64, add func(due int)) {
	tick := max(250*time.Millisecond, time.Duration(float64(time.Second)/perSecond))
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(tick)
		defer t.Stop()
		begin := time.Now()
		added := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-h.done:
				return
			case now := <-t.C:
				if due := int(now.Sub(begin).Seconds()*perSecond) - added; due > 0 {
					add(due)
					added += due
				}
			}
		}
	}()
}

func (h *Handler) randomAssets(n int) []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]int, n)
	for i := range out {
		out[i] = h.activityRnd.IntN(h.cat.assets + len(h.newAssets))
	}
	return out
}
