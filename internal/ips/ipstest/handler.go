package ipstest

import (
	"compress/gzip"
	"context"
	"crypto/subtle"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Path is the endpoint path of the IPS SOAP service.
const Path = "/scene7/services/IpsApiService"

// maxRequestBody bounds what the simulator reads of a request.
const maxRequestBody = 4 << 20

// maxRecordsPerPage is the largest (and default) recordsPerPage of
// getJobLogDetails; larger values are lowered to it.
const maxRecordsPerPage = 1000

// Handler is the simulator as an http.Handler: it answers POSTs to Path and
// holds the synthetic company, the activity added to it, call counters and
// programmed faults. All methods are safe for concurrent use.
type Handler struct {
	cfg    *config
	cat    *catalog
	logger *slog.Logger

	latency atomic.Int64
	rotate  atomic.Uint64

	callMu sync.Mutex
	calls  map[string]int
	total  int

	faultMu   sync.Mutex
	faults    []*Fault
	faultRand *rand.Rand

	// mu guards the added activity below. Entries, once appended, are never
	// modified, so readers may use a slice header taken under the lock.
	mu         sync.RWMutex
	jobs       []*addedJob
	jobsByKey  map[string]*addedJob
	added      map[int][]Entry
	addedTotal int
	// newAssets holds the creation instants of the assets created with
	// AddAssets (indexes from the base catalog's size on); trashed the
	// assets moved to the trash with TrashAssets.
	newAssets []time.Time
	trashed   map[int]bool
	// lagging holds entries whose job rows are visible but that
	// getAssetJobLogs does not serve yet (AppendToJobLagging).
	lagging     map[rowRef]bool
	activityRnd *rand.Rand

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

var _ http.Handler = (*Handler)(nil)

// NewHandler builds the simulator. The server's start is the clock's
// reading now; the base catalog ends BaseAge before it. It returns an error
// naming the first invalid option.
func NewHandler(opts ...Option) (*Handler, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	start := cfg.now().Truncate(time.Millisecond).UTC()
	h := &Handler{
		cfg:         cfg,
		cat:         newCatalog(cfg, start),
		logger:      cfg.logger,
		calls:       make(map[string]int),
		faultRand:   rand.New(rand.NewPCG(cfg.seed, saltFaults)),
		jobsByKey:   make(map[string]*addedJob),
		added:       make(map[int][]Entry),
		activityRnd: rand.New(rand.NewPCG(cfg.seed, saltActivity)),
		done:        make(chan struct{}),
	}
	h.latency.Store(int64(cfg.latency))
	if cfg.errorRate > 0 {
		h.Inject(Fault{Kind: FaultUnavailable, Probability: cfg.errorRate, RetryAfter: 1})
	}
	return h, nil
}

// Close stops background activity and makes waiting calls (latency) give
// up by dropping their connection. It does not close listeners. It is
// idempotent.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.done) })
	h.wg.Wait()
}

// Start is the server's start instant (millisecond precision, UTC).
func (h *Handler) Start() time.Time { return h.cat.start }

// CompanyHandle is the company the simulator serves.
func (h *Handler) CompanyHandle() string { return h.cfg.company }

// AssetHandle returns the handle of asset i (0 ≤ i < number of assets).
func (h *Handler) AssetHandle(i int) string { return h.cat.assetHandle(i) }

// AssetHandles returns every asset handle in index order (creation order),
// those created with AddAssets included.
func (h *Handler) AssetHandles() []string {
	out := make([]string, h.numAssets())
	for i := range out {
		out[i] = h.cat.assetHandle(i)
	}
	return out
}

// SetLatency changes the delay added before every answer.
func (h *Handler) SetLatency(d time.Duration) { h.latency.Store(int64(d)) }

// Calls returns how many requests of operation op arrived (faulted ones
// included) since the start or the last ResetCalls. Requests that could not
// be read count under "".
func (h *Handler) Calls(op string) int {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	return h.calls[op]
}

// TotalCalls returns how many requests arrived, of any operation.
func (h *Handler) TotalCalls() int {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	return h.total
}

// ResetCalls sets every call counter to zero.
func (h *Handler) ResetCalls() {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	clear(h.calls)
	h.total = 0
}

func (h *Handler) count(op string) {
	h.callMu.Lock()
	defer h.callMu.Unlock()
	h.calls[op]++
	h.total++
}

// style picks the concrete prefix style of one response.
func (h *Handler) style() Prefix {
	if h.cfg.prefix != PrefixRotate {
		return h.cfg.prefix
	}
	return Prefix((h.rotate.Add(1) - 1) % 3)
}

// ServeHTTP answers one SOAP call.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, readErr := readBody(r)
	var req soapRequest
	var parseErr error
	if readErr == nil {
		parseErr = parseRequest(body, &req)
	}
	if parseErr != nil {
		req.op = ""
	}
	h.count(req.op)

	delay, fault := h.pickFaults(req.op)
	delay += time.Duration(h.latency.Load())
	if delay > 0 && !h.wait(r.Context(), delay) {
		return
	}

	resp := response{h: h, w: w, r: r, req: &req, style: h.style()}
	if fault != nil {
		if resp.injected(fault) {
			return
		}
		resp.truncate = fault.Kind == FaultTruncated
	}
	switch {
	case readErr != nil:
		resp.fault(&soapFault{detail: IPSAPIFault, code: 30003, reason: "Invalid request XML: unreadable body"})
	case parseErr != nil:
		resp.fault(&soapFault{detail: IPSAPIFault, code: 30003, reason: "Invalid request XML: " + parseErr.Error()})
	default:
		h.dispatch(&resp)
	}
}

func readBody(r *http.Request) ([]byte, error) {
	var rd io.Reader = http.MaxBytesReader(nil, r.Body, maxRequestBody)
	if strings.EqualFold(r.Header.Get("Content-Encoding"), "gzip") {
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, err
		}
		rd = io.LimitReader(zr, maxRequestBody)
	}
	return io.ReadAll(rd)
}

// wait sleeps d; it reports false (after dropping the connection when the
// server is closing) if the call must not be answered.
func (h *Handler) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-h.done:
		panic(http.ErrAbortHandler)
	}
}

func (h *Handler) dispatch(resp *response) {
	req := resp.req
	v := req.version()
	if !req.isParam || v == "" || (len(h.cfg.versions) > 0 && !slices.Contains(h.cfg.versions, v)) {
		resp.fault(&soapFault{faultString: "No such operation '" + req.op + "' in namespace '" + req.ns + "'"})
		return
	}
	switch req.op {
	case OpGetAssetJobLogs, OpGetJobLogs, OpGetJobLogDetails, OpSearchAssets:
	default:
		resp.fault(&soapFault{faultString: "No such operation '" + req.op + "'"})
		return
	}
	if f := h.authenticate(resp.r, &req.auth); f != nil {
		resp.fault(f)
		return
	}
	h.logger.Debug("ips call", "op", req.op, "version", v)
	switch req.op {
	case OpGetAssetJobLogs:
		h.getAssetJobLogs(resp)
	case OpGetJobLogs:
		h.getJobLogs(resp)
	case OpGetJobLogDetails:
		h.getJobLogDetails(resp)
	case OpSearchAssets:
		h.searchAssets(resp)
	}
}

func (h *Handler) authenticate(r *http.Request, a *authHeader) *soapFault {
	if a.accessToken != "" && a.password == "" {
		if h.cfg.accessToken != "" && subtle.ConstantTimeCompare([]byte(a.accessToken), []byte(h.cfg.accessToken)) == 1 {
			return nil
		}
		return &soapFault{detail: AuthenticationFault, code: 10001, reason: "Invalid access token"}
	}
	user, password, ok := a.user, a.password, a.hasCredential
	if !ok {
		user, password, ok = r.BasicAuth()
	}
	if !ok {
		return &soapFault{detail: AuthenticationFault, code: 10000, reason: "No credentials were provided"}
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(h.cfg.user)) == 1
	passOK := subtle.ConstantTimeCompare([]byte(password), []byte(h.cfg.password)) == 1
	if !userOK || !passOK {
		return &soapFault{detail: AuthenticationFault, code: 10001, reason: "Invalid username/password"}
	}
	return nil
}

// response writes one answer.
type response struct {
	h        *Handler
	w        http.ResponseWriter
	r        *http.Request
	req      *soapRequest
	style    Prefix
	truncate bool
}

func missing(name string) *soapFault {
	return &soapFault{detail: IPSAPIFault, code: 30002, reason: "Missing required parameter: " + name}
}

func invalid(name, why string) *soapFault {
	return &soapFault{detail: IPSAPIFault, code: 30001, reason: "Invalid parameter " + name + ": " + why}
}

var errCompany = &soapFault{detail: AuthorizationFault, code: 20000, reason: "Invalid company handle"}

// fault answers with f, with the request's faultHttpStatusCode or 500.
func (rs *response) fault(f *soapFault) {
	rs.faultStatus(f, 0)
}

func (rs *response) faultStatus(f *soapFault, status int) {
	if status == 0 {
		status = rs.req.auth.faultStatus
	}
	if status == 0 {
		status = http.StatusInternalServerError
	}
	b := getBuf()
	defer putBuf(b)
	writeFault(b, rs.style, f)
	rs.send(status, b.Bytes())
}

// send writes a text/xml answer, gzipped when the client allows it.
func (rs *response) send(status int, body []byte) {
	hd := rs.w.Header()
	hd.Set("Content-Type", "text/xml;charset=UTF-8")
	if !rs.req.auth.noGzip && acceptsGzip(rs.r.Header.Get("Accept-Encoding")) {
		zb := getBuf()
		defer putBuf(zb)
		zw := gzipPool.Get().(*gzip.Writer)
		zw.Reset(zb)
		_, _ = zw.Write(body)
		_ = zw.Close()
		gzipPool.Put(zw)
		body = zb.Bytes()
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Vary", "Accept-Encoding")
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	rs.w.WriteHeader(status)
	if rs.truncate {
		_, _ = rs.w.Write(body[:len(body)/2])
		if f, ok := rs.w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	_, _ = rs.w.Write(body)
}

var gzipPool = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return zw
}}

// acceptsGzip reads an Accept-Encoding header; "gzip;q=0" refuses.
func acceptsGzip(h string) bool {
	for part := range strings.SplitSeq(h, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(coding) != "*" {
			continue
		}
		q := strings.ReplaceAll(params, " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// injected answers with a programmed fault; it reports false when the call
// must still be answered normally (FaultTruncated).
func (rs *response) injected(f *Fault) bool {
	hd := rs.w.Header()
	status := func(def int) int {
		if f.Status != 0 {
			return f.Status
		}
		return def
	}
	retryAfter := func() {
		if f.RetryAfter > 0 {
			hd.Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
	}
	switch f.Kind {
	case FaultUnavailable:
		retryAfter()
		http.Error(rs.w, "Service Unavailable", status(http.StatusServiceUnavailable))
	case FaultTooManyRequests:
		retryAfter()
		http.Error(rs.w, "Too Many Requests", status(http.StatusTooManyRequests))
	case FaultBadGateway:
		hd.Set("Content-Length", "0")
		rs.w.WriteHeader(status(http.StatusBadGateway))
	case FaultGatewayHTML:
		retryAfter()
		hd.Set("Content-Type", "text/html")
		hd.Set("Content-Length", strconv.Itoa(len(gatewayHTML)))
		rs.w.WriteHeader(status(http.StatusServiceUnavailable))
		_, _ = io.WriteString(rs.w, gatewayHTML)
	case FaultSOAP:
		rs.faultStatus(&soapFault{detail: f.Detail, code: f.Code, reason: f.Reason}, f.Status)
	case FaultConnectionReset:
		resetConnection(rs.w)
	case FaultMalformedXML:
		hd.Set("Content-Type", "text/xml;charset=UTF-8")
		hd.Set("Content-Length", strconv.Itoa(len(malformedBody)))
		rs.w.WriteHeader(status(http.StatusOK))
		_, _ = io.WriteString(rs.w, malformedBody)
	default:
		return false
	}
	return true
}

// resetConnection drops the connection with a TCP RST when it can, and
// aborts the handler (the server closes the connection) otherwise.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// body renders a successful answer into a pooled buffer and sends it.
func (rs *response) body(ret string, fill func(w *xw)) {
	b := getBuf()
	defer putBuf(b)
	w := startEnvelope(b, rs.style, rs.req.ns, ret, rs.h.cfg.loc)
	fill(w)
	endEnvelope(w, ret)
	rs.send(http.StatusOK, b.Bytes())
}

func (h *Handler) getAssetJobLogs(rs *response) {
	f := rs.req.fields
	company, asset := f["companyHandle"], f["assetHandle"]
	switch {
	case company == "":
		rs.fault(missing("companyHandle"))
		return
	case asset == "":
		rs.fault(missing("assetHandle"))
		return
	case company != h.cfg.company:
		rs.fault(errCompany)
		return
	}
	i, ok := h.cat.assetIndex(asset, h.numAssets())
	if !ok {
		rs.fault(invalid("assetHandle", "no such asset"))
		return
	}
	added := h.addedEntries(i)
	lagging := h.laggingEntries(i)
	rs.body("getAssetJobLogsReturn", func(w *xw) {
		w.open("jobLogArray")
		h.cat.baseEntries(i, func(e *Entry) { writeAssetEntry(w, e) })
		for k := range added {
			if !lagging[k] {
				writeAssetEntry(w, &added[k])
			}
		}
		w.close("jobLogArray")
	})
}

func (h *Handler) addedEntries(i int) []Entry {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.added[i]
}

// parseDate reads an xs:dateTime; without an offset it is UTC.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Parse("2006-01-02T15:04:05.999999999", s)
}

var jobSortKeys = []string{"JobName", "LogType", "StartDate", "CompanyName", "UserId", "Email",
	"FileErrorCount", "FileWarningCount", "FileSuccessCount"}

// jobView is a job listed by getJobLogs, with counts computed on demand.
type jobView struct {
	info    jobInfo
	added   *addedJob
	rows    []rowRef // snapshot of an added job's rows
	counts  [numCountFields]int
	counted bool
}

func (h *Handler) countsOf(v *jobView) *[numCountFields]int {
	if !v.counted {
		v.counted = true
		if v.added == nil {
			v.counts = h.cat.baseCounts(v.info.seq)
		} else {
			h.mu.RLock()
			for _, r := range v.rows {
				if t := logTypeIndex(h.added[r.asset][r.idx].LogType); t >= 0 {
					v.counts[logTypes[t].field]++
				}
			}
			h.mu.RUnlock()
		}
	}
	return &v.counts
}

// positiveField reads the request's integer field name, def when absent.
// A value below 1 or not an integer is answered with a fault naming the
// field (want says what it takes), and ok is false.
func positiveField(rs *response, name string, def int, want string) (n int, ok bool) {
	s, present := rs.req.fields[name]
	if !present {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		rs.fault(invalid(name, want))
		return 0, false
	}
	return n, true
}

// pageFields reads recordsPerPage (def when absent), capped at pageMax,
// and resultsPage (1 when absent), as positiveField does.
func pageFields(rs *response, def, pageMax int) (perPage, page int, ok bool) {
	if perPage, ok = positiveField(rs, "recordsPerPage", def, "want a positive integer"); !ok {
		return 0, 0, false
	}
	if page, ok = positiveField(rs, "resultsPage", 1, "want an integer from 1"); !ok {
		return 0, 0, false
	}
	return min(perPage, pageMax), page, true
}

// sortOrder reads a request's sortBy, one of keys (def when absent), and
// its sortDirection. A value it does not know is answered with a fault
// naming the field (unknown says why for sortBy), and ok is false.
func sortOrder(rs *response, keys []string, def, unknown string) (by string, desc, ok bool) {
	f := rs.req.fields
	by = def
	if s := f["sortBy"]; s != "" {
		if !slices.Contains(keys, s) {
			rs.fault(invalid("sortBy", unknown))
			return "", false, false
		}
		by = s
	}
	switch f["sortDirection"] {
	case "", "Ascending":
	case "Descending":
		desc = true
	default:
		rs.fault(invalid("sortDirection", "want Ascending or Descending"))
		return "", false, false
	}
	return by, desc, true
}

func (h *Handler) getJobLogs(rs *response) {
	f := rs.req.fields
	if c, ok := f["companyHandle"]; ok && c != h.cfg.company {
		rs.fault(errCompany)
		return
	}
	sortBy, desc, ok := sortOrder(rs, jobSortKeys, "StartDate", "unknown sort key")
	if !ok {
		return
	}
	var from, to time.Time
	var err error
	if s := f["startDate"]; s != "" {
		if from, err = parseDate(s); err != nil {
			rs.fault(invalid("startDate", "not an xs:dateTime"))
			return
		}
	}
	if s := f["endDate"]; s != "" {
		if to, err = parseDate(s); err != nil {
			rs.fault(invalid("endDate", "not an xs:dateTime"))
			return
		}
	}
	limit, ok := positiveField(rs, "numRows", -1, "want a positive integer")
	if !ok {
		return
	}
	inWindow := func(t time.Time) bool {
		return (from.IsZero() || !t.Before(from)) && (to.IsZero() || !t.After(to))
	}

	var views []*jobView
	for seq := range h.cat.baseJobs() {
		if inWindow(h.cat.baseJobStart(seq)) {
			views = append(views, &jobView{info: h.cat.baseJob(seq)})
		}
	}
	h.mu.RLock()
	for _, j := range h.jobs {
		if inWindow(j.info.start) {
			views = append(views, &jobView{info: j.info, added: j, rows: j.rows})
		}
	}
	h.mu.RUnlock()

	cmpKey := func(a, b *jobView) int {
		switch sortBy {
		case "JobName":
			return strings.Compare(a.info.name, b.info.name)
		case "LogType":
			return strings.Compare(a.info.logType, b.info.logType)
		case "UserId", "Email":
			return strings.Compare(a.info.submitter, b.info.submitter)
		case "FileErrorCount":
			return h.countsOf(a)[countError] - h.countsOf(b)[countError]
		case "FileWarningCount":
			return h.countsOf(a)[countWarning] - h.countsOf(b)[countWarning]
		case "FileSuccessCount":
			return h.countsOf(a)[countSuccess] - h.countsOf(b)[countSuccess]
		}
		return 0
	}
	slices.SortStableFunc(views, func(a, b *jobView) int {
		c := cmpKey(a, b)
		if c == 0 {
			c = a.info.start.Compare(b.info.start)
		}
		if c == 0 {
			c = a.info.seq - b.info.seq
		}
		if desc {
			c = -c
		}
		return c
	})
	if limit >= 0 && len(views) > limit {
		views = views[:limit]
	}
	rs.body("getJobLogsReturn", func(w *xw) {
		w.open("jobLogArray")
		for _, v := range views {
			w.open("items")
			writeJobFields(w, h.cfg.company, &v.info, h.countsOf(v))
			w.close("items")
		}
		w.close("jobLogArray")
	})
}

func (h *Handler) getJobLogDetails(rs *response) {
	f := rs.req.fields
	company := f["companyHandle"]
	switch {
	case company == "":
		rs.fault(missing("companyHandle"))
		return
	case f["jobHandle"] == "":
		rs.fault(missing("jobHandle"))
		return
	case company != h.cfg.company:
		rs.fault(errCompany)
		return
	}
	perPage, page, ok := pageFields(rs, maxRecordsPerPage, maxRecordsPerPage)
	if !ok {
		return
	}
	v, ok := h.findJob(f["jobHandle"])
	if !ok {
		rs.fault(invalid("jobHandle", "no such job"))
		return
	}
	counts := h.countsOf(v)
	types := rs.req.arrays["logTypeArray"]
	wantType := func(string) bool { return true }
	if len(types) > 0 {
		wantType = func(t string) bool { return slices.Contains(types, t) }
	}

	// Collect the rows of the page (and the total) in row order.
	var pageRows []Entry
	var metas []assetMeta
	first := (page - 1) * perPage
	total := 0
	take := func(e Entry) {
		if total >= first && total < first+perPage {
			pageRows = append(pageRows, e)
		}
		total++
	}
	if v.added == nil {
		seq := v.info.seq
		filtered := len(types) > 0
		if !filtered {
			total = v.info.rows
			for r := first; r < min(first+perPage, total); r++ {
				pageRows = append(pageRows, h.baseRowEntry(v, r))
			}
		} else {
			for r := range v.info.rows {
				i, k := h.cat.baseRow(seq, r)
				if wantType(logTypes[h.cat.baseLogType(i, k)].name) {
					if total >= first && total < first+perPage {
						pageRows = append(pageRows, h.baseRowEntry(v, r))
					}
					total++
				}
			}
		}
	} else {
		h.mu.RLock()
		for _, r := range v.rows {
			e := h.added[r.asset][r.idx]
			if wantType(e.LogType) {
				take(e)
			}
		}
		h.mu.RUnlock()
	}
	for i := range pageRows {
		metas = append(metas, h.cat.asset(pageRows[i].AssetIndex))
	}
	rs.body("getJobLogDetailsReturn", func(w *xw) {
		w.open("jobLogArray")
		w.open("items")
		writeJobFields(w, h.cfg.company, &v.info, counts)
		w.int("detailTotalRows", total)
		w.open("detailArray")
		for i := range pageRows {
			writeDetail(w, &pageRows[i], &metas[i])
		}
		w.close("detailArray")
		w.close("items")
		w.close("jobLogArray")
	})
}

func (h *Handler) baseRowEntry(v *jobView, r int) Entry {
	i, k := h.cat.baseRow(v.info.seq, r)
	a := h.cat.asset(i)
	return h.cat.baseEntry(&a, i, k, &v.info)
}

// findJob resolves a job handle to a base or added job.
func (h *Handler) findJob(handle string) (*jobView, bool) {
	cut := strings.LastIndexByte(handle, '|')
	if cut < 0 {
		return nil, false
	}
	seq, err := strconv.Atoi(handle[cut+1:])
	if err != nil || seq < 0 {
		return nil, false
	}
	if seq < h.cat.baseJobs() {
		info := h.cat.baseJob(seq)
		if info.handle != handle {
			return nil, false
		}
		return &jobView{info: info}, true
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	j, ok := h.jobsByKey[handle]
	if !ok {
		return nil, false
	}
	return &jobView{info: j.info, added: j, rows: j.rows}, true
}
