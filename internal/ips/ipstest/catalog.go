package ipstest

import (
	"strconv"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// BaseAge is how old the synthetic catalog is: every base entry and every
// base job ends at least BaseAge before the server started, so a search for
// recent jobs (getJobLogs over the last days) finds only activity added
// while the server runs.
const BaseAge = 30 * 24 * time.Hour

const (
	// assetsPerGroup assets share their base jobs.
	assetsPerGroup = 100
	// maxBlocks is the number of base jobs that write to each asset.
	maxBlocks = 4
	// slotStep is the time between two base entries of one asset.
	slotStep = time.Minute
	// variants is how many distinct logType sequences the base assets have
	// (asset i follows sequence i mod variants), which keeps a job's counts
	// computable without enumerating its rows.
	variants = 5
	// companyName is the folder root of the synthetic company.
	companyName = "ApiTestCo"
)

// Entry is one AssetJobLog entry as the simulator serves it, with the context
// IPS leaves implicit. Tests compare what a client decoded against it.
type Entry struct {
	CompanyHandle string
	AssetHandle   string
	// AssetIndex is the asset's position in the catalog (0-based).
	AssetIndex int

	JobHandle       string
	JobName         string
	LogMessage      string
	LogType         string
	SubmitUserEmail string
	// LogDate is the entry's instant, millisecond precision, UTC.
	LogDate time.Time
	// AuxArray holds the entry's auxArray items; nil when it has none.
	AuxArray []Aux

	// Malformed is set when the simulator serves the entry with an
	// unparsable logDate (WithMalformedEntries).
	Malformed bool

	// Created is when the entry came into existence by the server's clock:
	// the server's start for base entries, the clock reading (full
	// precision) of the call that added it otherwise.
	Created time.Time
}

// Aux is one auxArray item. IPS documents two shapes: JobLogDetailAux
// (LogMessage, LogType, DateCreated) and JobLogDetail, which adds AssetName,
// AssetType and AssetHandle; the simulator serves both, and the three asset
// fields are nil in the first shape. DateCreated is nil when not sent.
type Aux struct {
	LogMessage  string
	LogType     string
	DateCreated *time.Time
	AssetName   *string
	AssetType   *string
	AssetHandle *string
}

// AssetJobLog converts the entry to the domain type, leaving EventID and
// ObservedAt empty (they are the producer's bookkeeping).
func (e Entry) AssetJobLog() pipeline.AssetJobLog {
	out := pipeline.AssetJobLog{
		CompanyHandle:   e.CompanyHandle,
		AssetHandle:     e.AssetHandle,
		JobHandle:       e.JobHandle,
		JobName:         e.JobName,
		LogMessage:      e.LogMessage,
		LogType:         e.LogType,
		SubmitUserEmail: e.SubmitUserEmail,
		LogDate:         e.LogDate.UTC(),
	}
	for _, a := range e.AuxArray {
		out.AuxArray = append(out.AuxArray, pipeline.JobLogDetail{
			LogMessage:  a.LogMessage,
			LogType:     a.LogType,
			DateCreated: a.DateCreated,
			AssetName:   a.AssetName,
			AssetType:   a.AssetType,
			AssetHandle: a.AssetHandle,
		})
	}
	return out
}

// countField says which counter of a JobLog an entry's logType increments.
type countField uint8

const (
	countNone countField = iota
	countSuccess
	countError
	countWarning
	countDuplicate
	countUpdate
	numCountFields
)

type logTypeInfo struct {
	name   string
	weight int
	field  countField
	// The message is pre + file path + post.
	pre, post string
}

// logTypes is the open set of entry log types the simulator writes,
// including a misspelling IPS is known for.
var logTypes = []logTypeInfo{
	{"UploadSuccess", 46, countSuccess, "", " was processed into IPS"},
	{"FileUpdated", 18, countUpdate, "", " was updated"},
	{"UploadWarning", 8, countWarning, "", " was processed with warnings"},
	{"UploadError", 5, countError, "", " could not be processed: unsupported or damaged file"},
	{"DuplicateSkipped", 7, countDuplicate, "", " was skipped: a file with the same name exists"},
	{"ImageServingPublishSuccess", 10, countSuccess, "", " was published to Image Serving"},
	{"ImageServingPublishSucess", 2, countSuccess, "Publish: ", " done"},
	{"DeleteSuccess", 2, countSuccess, "", " was deleted"},
	{"MetadataUpdated", 2, countNone, "Metadata of ", " was changed"},
}

// logTypeTable maps a value in [0,100) to an index of logTypes.
var logTypeTable = func() (t [100]uint8) {
	n := 0
	for i, lt := range logTypes {
		for j := 0; j < lt.weight; j++ {
			t[n] = uint8(i)
			n++
		}
	}
	if n != len(t) {
		panic("ipstest: log type weights must sum to 100")
	}
	return t
}()

func logTypeIndex(name string) int {
	for i, lt := range logTypes {
		if lt.name == name {
			return i
		}
	}
	return -1
}

type auxTemplate struct{ logType, message string }

var auxTemplates = []auxTemplate{
	{"IPSJobLog.gcUploadWarning", "Embedded color profile ignored; sRGB assumed"},
	{"IPSJobLog.gcUploadWarning", "Missing <XMP> & IPTC metadata"},
	{"IPSJobLog.gcUploadError", "Layer 'Background' could not be read"},
	{"IPSJobLog.gcUploadInfo", "Image was scaled to 10000 × 10000 pixels"},
}

var submitters = []string{
	"api@example.com",
	"ingest@example.com",
	"jane.doe@example.com",
	"o'brien+dam@example.com",
}

type jobKind struct {
	namePrefix string
	millisName bool // name is prefix + epoch millis, else prefix + date
	logType    string
	subType    string
}

var jobKinds = []jobKind{
	{"Upload_", false, "Upload", "ImageUpload"},
	{"uploadFileServlet-", true, "Upload", "FileUpload"},
	{"Add_", false, "Add", "ImageUpload"},
	{"ImageServingPublish_", false, "ImageServingPublish", "Publish"},
}

// Salts separate the hash streams of the different synthetic choices.
const (
	saltAsset uint64 = iota + 1
	saltType
	saltJitter
	saltAux
	saltJob
	saltAdded
	saltAddedAux
	saltFaults
	saltActivity
)

func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hash3(seed, salt uint64, a, b int) uint64 {
	return mix(mix(mix(seed^salt*0x632be59bd9b4e019)+uint64(a)) + uint64(b))
}

// catalog is the deterministic synthetic company. Nothing of it is stored:
// every base entry and job is computed from (seed, indexes) on demand.
type catalog struct {
	seed        uint64
	company     string
	companyID   string
	assetPrefix string
	assets      int
	entries     int // base entries per asset
	groups      int
	blocks      int
	start       time.Time // the server's start, millisecond precision
	t0          time.Time // the first base slot
	loc         *time.Location
	malformed   int // every malformed-th asset's first entry is malformed
	hook        func(*Entry)
}

func newCatalog(c *config, start time.Time) *catalog {
	cat := &catalog{
		seed:        c.seed,
		company:     c.company,
		companyID:   companyID(c.company),
		assetPrefix: c.assetPrefix,
		malformed:   c.malformedEvery,
		hook:        c.entryHook,
		assets:      c.assets,
		entries:     c.entries,
		groups:      (c.assets + assetsPerGroup - 1) / assetsPerGroup,
		blocks:      min(c.entries, maxBlocks),
		start:       start,
		loc:         c.loc,
	}
	span := time.Duration(cat.entries) * time.Duration(max(cat.groups, 1)) * slotStep
	cat.t0 = start.Add(-BaseAge - span)
	return cat
}

func companyID(handle string) string {
	for i := len(handle) - 1; i >= 0; i-- {
		if handle[i] == '|' {
			return handle[i+1:]
		}
	}
	return handle
}

func (c *catalog) baseJobs() int { return c.groups * c.blocks }

func (c *catalog) assetHandle(i int) string {
	return c.assetPrefix + strconv.Itoa(i)
}

// assetIndex parses an asset handle of this catalog; ok is false for
// anything that is not exactly prefix + canonical decimal index < limit
// (the base assets plus those created while the server runs).
func (c *catalog) assetIndex(handle string, limit int) (int, bool) {
	if len(handle) <= len(c.assetPrefix) || handle[:len(c.assetPrefix)] != c.assetPrefix {
		return 0, false
	}
	s := handle[len(c.assetPrefix):]
	if len(s) > 1 && s[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n >= limit || s[0] == '+' {
		return 0, false
	}
	return n, true
}

type assetMeta struct {
	handle, name, kind, path string
}

func (c *catalog) asset(i int) assetMeta {
	h := hash3(c.seed, saltAsset, i, 0)
	var ext, kind string
	switch h % 10 {
	case 7:
		ext, kind = "png", "Image"
	case 8:
		ext, kind = "mp4", "Video"
	case 9:
		ext, kind = "pdf", "PDF"
	default:
		ext, kind = "jpg", "Image"
	}
	var name string
	if (h>>8)%9 == 0 {
		name = "Müller & Söhne <v" + strconv.Itoa(i) + "> \"final\"." + ext
	} else {
		name = "asset-" + strconv.Itoa(i) + "." + ext
	}
	folder := "folder-" + strconv.Itoa(i/assetsPerGroup)
	return assetMeta{
		handle: c.assetHandle(i),
		name:   name,
		kind:   kind,
		path:   companyName + "/" + folder + "/" + name,
	}
}

// blockStart is the first entry index of base block b.
func (c *catalog) blockStart(b int) int { return b * c.entries / c.blocks }

// slotTime is the start of the one-minute slot of base entry k of an asset
// in group g.
func (c *catalog) slotTime(g, k int) time.Time {
	return c.t0.Add(time.Duration(k*c.groups+g) * slotStep)
}

func (c *catalog) baseLogDate(i, k int) time.Time {
	jitter := hash3(c.seed, saltJitter, i, k) % uint64(slotStep/time.Millisecond)
	return c.slotTime(i/assetsPerGroup, k).Add(time.Duration(jitter) * time.Millisecond)
}

func (c *catalog) baseLogType(i, k int) int {
	return int(logTypeTable[hash3(c.seed, saltType, i%variants, k)%100])
}

// jobInfo describes a job the way getJobLogs lists it.
type jobInfo struct {
	seq       int
	handle    string
	name      string
	logType   string
	subType   string
	submitter string
	start     time.Time
	end       time.Time // zero while running
	rows      int
}

func (c *catalog) jobHandle(name string, seq int) string {
	return "j|" + c.companyID + "||" + name + "|" + strconv.Itoa(seq)
}

// newJobInfo names a job from its sequence number and start.
func (c *catalog) newJobInfo(seq int, start time.Time) jobInfo {
	h := hash3(c.seed, saltJob, seq, 0)
	kind := jobKinds[h%uint64(len(jobKinds))]
	var name string
	if kind.millisName {
		name = kind.namePrefix + strconv.FormatInt(start.UnixMilli(), 10)
	} else {
		name = kind.namePrefix + start.In(c.loc).Format("2006-01-02-15:04:05")
	}
	return jobInfo{
		seq:       seq,
		handle:    c.jobHandle(name, seq),
		name:      name,
		logType:   kind.logType,
		subType:   kind.subType,
		submitter: submitters[(h>>16)%uint64(len(submitters))],
		start:     start,
	}
}

// baseJobGB splits a base job sequence number into group and block.
func (c *catalog) baseJobGB(seq int) (g, b int) { return seq / c.blocks, seq % c.blocks }

func (c *catalog) groupAssets(g int) (lo, hi int) {
	lo = g * assetsPerGroup
	return lo, min(lo+assetsPerGroup, c.assets)
}

func (c *catalog) blockEnd(b int) int { return c.blockStart(b + 1) }

func (c *catalog) baseJobStart(seq int) time.Time {
	g, b := c.baseJobGB(seq)
	return c.slotTime(g, c.blockStart(b))
}

func (c *catalog) baseJob(seq int) jobInfo {
	g, b := c.baseJobGB(seq)
	j := c.newJobInfo(seq, c.baseJobStart(seq))
	ks, ke := c.blockStart(b), c.blockEnd(b)
	j.end = c.slotTime(g, ke-1).Add(slotStep - time.Millisecond)
	lo, hi := c.groupAssets(g)
	j.rows = (hi - lo) * (ke - ks)
	return j
}

// baseCounts counts the job's rows per count field without enumerating them.
func (c *catalog) baseCounts(seq int) (counts [numCountFields]int) {
	g, b := c.baseJobGB(seq)
	lo, hi := c.groupAssets(g)
	residues := func(x, v int) int { // i in [0,x) with i%variants == v
		if x <= v {
			return 0
		}
		return (x - v + variants - 1) / variants
	}
	for v := 0; v < variants; v++ {
		n := residues(hi, v) - residues(lo, v)
		if n == 0 {
			continue
		}
		for k := c.blockStart(b); k < c.blockEnd(b); k++ {
			counts[logTypes[c.baseLogType(v, k)].field] += n
		}
	}
	return counts
}

// baseRow maps row r of base job seq to (asset, entry index); rows run in
// slot order (entry index major, asset minor).
func (c *catalog) baseRow(seq, r int) (i, k int) {
	g, b := c.baseJobGB(seq)
	lo, hi := c.groupAssets(g)
	n := hi - lo
	return lo + r%n, c.blockStart(b) + r/n
}

// baseEntry builds entry k of asset a, written by job j.
func (c *catalog) baseEntry(a *assetMeta, i, k int, j *jobInfo) Entry {
	lt := &logTypes[c.baseLogType(i, k)]
	e := Entry{
		CompanyHandle:   c.company,
		AssetHandle:     a.handle,
		AssetIndex:      i,
		JobHandle:       j.handle,
		JobName:         j.name,
		LogMessage:      lt.pre + a.path + lt.post,
		LogType:         lt.name,
		SubmitUserEmail: j.submitter,
		LogDate:         c.baseLogDate(i, k),
		Created:         c.start,
	}
	e.AuxArray = c.aux(hash3(c.seed, saltAux, i, k), a, e.LogDate)
	return e
}

// aux decides from h whether an entry has auxArray items and of which shape.
func (c *catalog) aux(h uint64, a *assetMeta, logDate time.Time) []Aux {
	if h%4 != 0 {
		return nil
	}
	n := 1 + int(h>>8)%2
	out := make([]Aux, n)
	for j := range out {
		t := auxTemplates[(h>>12+uint64(j))%uint64(len(auxTemplates))]
		x := Aux{LogMessage: t.message, LogType: t.logType}
		if (h>>20+uint64(j))%3 != 0 {
			d := logDate.Add(time.Duration(j+1) * time.Millisecond)
			x.DateCreated = &d
		}
		if (h>>28+uint64(j))%2 == 0 {
			x.AssetName, x.AssetType, x.AssetHandle = &a.name, &a.kind, &a.handle
		}
		out[j] = x
	}
	return out
}

// baseEntries calls fn for every base entry of asset i in log order. An
// asset created while the server runs has none.
func (c *catalog) baseEntries(i int, fn func(*Entry)) {
	if i >= c.assets {
		return
	}
	a := c.asset(i)
	g := i / assetsPerGroup
	for b := 0; b < c.blocks; b++ {
		j := c.baseJob(g*c.blocks + b)
		for k := c.blockStart(b); k < c.blockEnd(b); k++ {
			e := c.baseEntry(&a, i, k, &j)
			e.Malformed = k == 0 && c.malformed > 0 && i%c.malformed == c.malformed-1
			if c.hook != nil {
				c.hook(&e)
			}
			fn(&e)
		}
	}
}

// lastBaseDate is the logDate of asset i's newest base entry (zero if none).
func (c *catalog) lastBaseDate(i int) time.Time {
	if c.entries == 0 || i >= c.assets {
		return time.Time{}
	}
	return c.baseLogDate(i, c.entries-1)
}
