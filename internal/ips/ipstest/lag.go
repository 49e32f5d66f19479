package ipstest

// AppendToJobLagging is AppendToJob, except that the new entries trail
// their job rows: getJobLogDetails lists the rows at once, but
// getAssetJobLogs serves the entries only after release is called, as when
// IPS writes a job's row before the asset's log entry. Entries and
// AllEntries include them from the start.
func (h *Handler) AppendToJobLagging(job JobHandle, assetIndexes []int, entriesPerAsset int) (release func(), err error) {
	h.checkAssets(assetIndexes)
	h.mu.Lock()
	defer h.mu.Unlock()
	j, err := h.runningJobLocked(job)
	if err != nil {
		return nil, err
	}
	before := len(j.rows)
	h.appendLocked(j, assetIndexes, entriesPerAsset, h.cfg.now())
	refs := append([]rowRef(nil), j.rows[before:]...)
	if h.lagging == nil {
		h.lagging = make(map[rowRef]bool)
	}
	for _, r := range refs {
		h.lagging[r] = true
	}
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, r := range refs {
			delete(h.lagging, r)
		}
	}, nil
}

// laggingEntries returns the indexes of asset i's added entries that are
// not served yet.
func (h *Handler) laggingEntries(i int) map[int]bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.lagging) == 0 {
		return nil
	}
	var out map[int]bool
	for r := range h.lagging {
		if r.asset == i {
			if out == nil {
				out = make(map[int]bool)
			}
			out[r.idx] = true
		}
	}
	return out
}
