package ips

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// JobLogDetailRow is one per-file row of a job, as getJobLogDetails returns
// it in a JobLog's detailArray.
type JobLogDetailRow struct {
	AssetHandle string
	AssetName   string
	AssetType   string
	LogType     string
	LogMessage  string
	// DateCreated is zero when IPS did not send it.
	DateCreated time.Time
}

// DecodeAssetJobLogs decodes a getAssetJobLogs SOAP response body read from
// r, filling CompanyHandle and AssetHandle of every entry.
//
// An entry (an items element of jobLogArray) that is well-formed XML but
// does not decode (a required element missing, an unparsable date, an
// element where text belongs, text where the auxArray belongs, bytes that
// are not UTF-8 or not XML characters) is left out of the entries and
// returned as a BadEntry naming the element and the reason, with the
// entry's raw XML; its neighbours decode as usual.
//
// A body that is malformed as a whole (not XML, not the SOAP envelope of
// the operation, cut short) is an error wrapping ErrMalformedResponse; a
// SOAP fault in the body is a *Fault (HTTPStatus 0); an error r returned is
// returned as is. It does not bound the size of r: the Client does that.
func DecodeAssetJobLogs(r io.Reader, companyHandle, assetHandle string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
	d := decoder{s: newScanner(r)}
	return d.assetJobLogs(companyHandle, assetHandle)
}

// decoder holds the state shared by the operation decoders.
type decoder struct {
	s   *scanner
	buf []byte
	// interned keeps one copy of strings that repeat across entries
	// (job handles and names, log types, e-mails).
	interned map[string]string
}

func (d *decoder) text() (string, error) {
	var err error
	d.buf, err = d.s.textContent(d.buf)
	if err != nil {
		return "", err
	}
	return string(d.buf), nil
}

// internedText is text for values that repeat across entries.
func (d *decoder) internedText() (string, error) {
	var err error
	d.buf, err = d.s.textContent(d.buf)
	if err != nil {
		return "", err
	}
	if len(d.buf) > 256 {
		return string(d.buf), nil
	}
	if v, ok := d.interned[string(d.buf)]; ok {
		return v, nil
	}
	if d.interned == nil {
		d.interned = make(map[string]string, 64)
	}
	v := string(d.buf)
	if len(d.interned) < 4096 {
		d.interned[v] = v
	}
	return v, nil
}

// date reads a dateTime; path names it in the error ("" leaves that to
// the caller, see localError).
func (d *decoder) date(path string) (time.Time, error) {
	var err error
	d.buf, err = d.s.textContent(d.buf)
	if err != nil {
		return time.Time{}, err
	}
	t, ok := parseDateTime(d.buf)
	if !ok {
		return time.Time{}, badElement(path, "unparsable dateTime %q", snippet(d.buf, 64))
	}
	return t, nil
}

func (d *decoder) integer(path string) (int, error) {
	var err error
	d.buf, err = d.s.textContent(d.buf)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(d.buf)))
	if err != nil {
		return 0, badElement(path, "not an integer: %q", snippet(d.buf, 32))
	}
	return n, nil
}

// body reads the envelope up to the operation's return element, which it
// leaves open (the caller reads its children). A SOAP fault is returned as
// a *Fault.
func (d *decoder) body(returnName string) error {
	s := d.s
	ok, err := s.child(0)
	if err != nil {
		return err
	}
	if !ok || s.cur.ns != nsSOAPEnv || s.cur.local != "Envelope" {
		return malformed("root element is <%s>, not a SOAP 1.1 Envelope", s.cur.local)
	}
	hasBody := false
	for el, err := range s.children(1) {
		if err != nil {
			return err
		}
		if el.ns == nsSOAPEnv && el.local == "Body" {
			hasBody = true
			break
		}
		if err := s.skip(); err != nil { // Header or an extension
			return err
		}
	}
	if !hasBody {
		return malformed("SOAP Envelope has no Body")
	}
	for el, err := range s.children(2) {
		if err != nil {
			return err
		}
		switch {
		case el.ns == nsSOAPEnv && el.local == "Fault":
			f, err := d.fault()
			if err != nil {
				return err
			}
			if err := s.finish(); err != nil {
				return err
			}
			return f
		case el.ns == nsIPSVer && el.local == returnName:
			return nil
		}
		if err := s.skip(); err != nil {
			return err
		}
	}
	return malformed("SOAP Body has no <%s>", returnName)
}

// fault reads a soapenv:Fault just started.
func (d *decoder) fault() (*Fault, error) {
	s := d.s
	f := &Fault{}
	for el, err := range s.children(s.depth()) {
		if err != nil {
			return nil, err
		}
		// SOAP 1.1 fault children are unqualified; accept them qualified
		// too.
		switch el.local {
		case "faultcode":
			if f.FaultCode, err = d.text(); err != nil {
				return nil, err
			}
			f.FaultCode = strings.TrimSpace(f.FaultCode)
		case "faultstring":
			if f.FaultString, err = d.text(); err != nil {
				return nil, err
			}
		case "detail":
			if err := d.faultDetail(f); err != nil {
				return nil, err
			}
		default:
			if err := s.skip(); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

func (d *decoder) faultDetail(f *Fault) error {
	s := d.s
	for el, err := range s.children(s.depth()) {
		if err != nil {
			return err
		}
		kind := FaultUnknown
		if el.ns == nsIPS || el.ns == nsIPSVer {
			switch el.local {
			case "authenticationFault":
				kind = FaultAuthentication
			case "authorizationFault":
				kind = FaultAuthorization
			case "ipsApiFault":
				kind = FaultAPI
			}
		}
		if kind == FaultUnknown || f.Kind != FaultUnknown {
			if err := s.skip(); err != nil {
				return err
			}
			continue
		}
		f.Kind = kind
		for el, err := range s.children(s.depth()) {
			if err != nil {
				return err
			}
			switch {
			case el.local == "code" && el.ns != nsOther:
				v, err := d.text()
				if err != nil {
					return err
				}
				// A non-numeric code leaves Code 0; the kind still
				// classifies the fault.
				f.Code, _ = strconv.Atoi(strings.TrimSpace(v))
			case el.local == "reason" && el.ns != nsOther:
				var err error
				if f.Reason, err = d.text(); err != nil {
					return err
				}
			default:
				if err := s.skip(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// array iterates the items of the <arrayName> children of the element open
// at depth parent, calling item for each <items> start with its index.
func (d *decoder) array(parent int, arrayName string, item func(i int) error) error {
	s := d.s
	i := 0
	for _, err := range s.named(parent, arrayName) {
		if err != nil {
			return err
		}
		for _, err := range s.named(s.depth(), "items") {
			if err != nil {
				return err
			}
			if err := item(i); err != nil {
				return err
			}
			i++
		}
	}
	return nil
}

// Fields of an AssetJobLog, as bits of the seen mask.
const (
	fJobHandle = 1 << iota
	fJobName
	fLogMessage
	fLogType
	fSubmitUserEmail
	fLogDate
	fAllRequired = fJobHandle | fJobName | fLogMessage | fLogType | fSubmitUserEmail | fLogDate
)

var assetJobLogFields = [...]string{"jobHandle", "jobName", "logMessage", "logType", "submitUserEmail", "logDate"}

func missing(seen, required int, names []string) string {
	for i, n := range names {
		if required&(1<<i) != 0 && seen&(1<<i) == 0 {
			return n
		}
	}
	return ""
}

func (d *decoder) assetJobLogs(companyHandle, assetHandle string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
	if err := d.body("getAssetJobLogsReturn"); err != nil {
		return nil, nil, err
	}
	var (
		out []pipeline.AssetJobLog
		bad []pipeline.BadEntry
	)
	err := d.array(d.s.depth(), "jobLogArray", func(i int) error {
		e, be, err := d.assetJobLogEntry(i)
		if err != nil {
			return err
		}
		if be != nil {
			bad = append(bad, *be)
			return nil
		}
		e.CompanyHandle = companyHandle
		e.AssetHandle = assetHandle
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := d.s.finish(); err != nil {
		return nil, nil, err
	}
	if out == nil {
		out = []pipeline.AssetJobLog{}
	}
	return out, bad, nil
}

// assetJobLogEntry decodes the items element just started, the i-th of
// jobLogArray. An entry that does not decode while the document stays
// well-formed gives a BadEntry; other errors stop the document.
func (d *decoder) assetJobLogEntry(i int) (pipeline.AssetJobLog, *pipeline.BadEntry, error) {
	s := d.s
	depth := s.depth()
	s.startCapture()
	e, err := d.assetJobLog(i)
	var local *malformedError
	if err != nil {
		if local = localError(err, itemPath(i)); local == nil {
			return e, nil, err
		}
		if err := s.skipOut(depth); err != nil {
			return e, nil, err
		}
	}
	raw, bb, hasBad := s.endCapture(local != nil)
	if hasBad {
		// What the replaced byte did to the decode is beside the point.
		local = &malformedError{local: true, element: itemPath(i), reason: fmt.Sprintf("%s at byte %d of the entry", bb.what, bb.off)}
	}
	if local == nil {
		return e, nil, nil
	}
	be := pipeline.NewBadEntry(i, local.element, local.reason, raw)
	return e, &be, nil
}

func (d *decoder) assetJobLog(i int) (pipeline.AssetJobLog, error) {
	s := d.s
	var e pipeline.AssetJobLog
	seen := 0
	for el, err := range s.fields(s.depth()) {
		if err != nil {
			return e, err
		}
		field := el.local
		switch field {
		case "jobHandle":
			e.JobHandle, err = d.internedText()
			seen |= fJobHandle
		case "jobName":
			e.JobName, err = d.internedText()
			seen |= fJobName
		case "logMessage":
			e.LogMessage, err = d.text()
			seen |= fLogMessage
		case "logType":
			e.LogType, err = d.internedText()
			seen |= fLogType
		case "submitUserEmail":
			e.SubmitUserEmail, err = d.internedText()
			seen |= fSubmitUserEmail
		case "logDate":
			e.LogDate, err = d.date("")
			seen |= fLogDate
		case "auxArray":
			e.AuxArray, err = d.auxArray(i)
		default:
			err = s.skip()
		}
		if err != nil {
			if local := localError(err, itemPath(i)+"."+field); local != nil {
				return e, local
			}
			return e, err
		}
	}
	if m := missing(seen, fAllRequired, assetJobLogFields[:]); m != "" {
		return e, badElement(itemPath(i), "missing required element <%s>", m)
	}
	return e, nil
}

func (d *decoder) auxArray(entry int) ([]pipeline.JobLogDetail, error) {
	s := d.s
	var out []pipeline.JobLogDetail
	j := 0
	s.sawText = false
	holdsText := func() error {
		return badElement(itemPath(entry)+".auxArray", "holds text, not an array of items")
	}
	// Not named: text is noticed before the element that follows it is
	// skipped.
	for el, err := range s.children(s.depth()) {
		if err != nil {
			return nil, err
		}
		if s.sawText {
			return nil, holdsText()
		}
		if el.ns != nsIPSVer || el.local != "items" {
			if err := s.skip(); err != nil {
				return nil, err
			}
			continue
		}
		row, err := d.auxItem(entry, j)
		if err != nil {
			return nil, err
		}
		out = append(out, row)
		j++
	}
	if s.sawText {
		return nil, holdsText()
	}
	return out, nil
}

// itemPath names the i-th entry of jobLogArray in errors.
func itemPath(i int) string { return "jobLogArray.items[" + strconv.Itoa(i) + "]" }

// auxPath names the j-th auxArray row of the i-th entry in errors.
func auxPath(i, j int) string { return itemPath(i) + ".auxArray.items[" + strconv.Itoa(j) + "]" }

func (d *decoder) auxItem(entry, j int) (pipeline.JobLogDetail, error) {
	s := d.s
	var row pipeline.JobLogDetail
	var hasMsg, hasType bool
	for el, err := range s.fields(s.depth()) {
		if err != nil {
			return row, err
		}
		var v string
		field := el.local
		switch field {
		case "logMessage":
			row.LogMessage, err = d.text()
			hasMsg = true
		case "logType":
			row.LogType, err = d.internedText()
			hasType = true
		case "dateCreated":
			var t time.Time
			t, err = d.date("")
			row.DateCreated = &t
		case "assetName":
			v, err = d.text()
			row.AssetName = &v
		case "assetType":
			v, err = d.internedText()
			row.AssetType = &v
		case "assetHandle":
			v, err = d.text()
			row.AssetHandle = &v
		default:
			err = s.skip()
		}
		if err != nil {
			if local := localError(err, auxPath(entry, j)+"."+field); local != nil {
				return row, local
			}
			return row, err
		}
	}
	switch {
	case !hasMsg:
		return row, badElement(auxPath(entry, j), "missing required element <logMessage>")
	case !hasType:
		return row, badElement(auxPath(entry, j), "missing required element <logType>")
	}
	return row, nil
}

func (d *decoder) jobLogs() ([]pipeline.Job, error) {
	if err := d.body("getJobLogsReturn"); err != nil {
		return nil, err
	}
	var out []pipeline.Job
	err := d.array(d.s.depth(), "jobLogArray", func(i int) error {
		s := d.s
		var j pipeline.Job
		hasHandle := false
		for el, err := range s.fields(s.depth()) {
			if err != nil {
				return err
			}
			path := "jobLogArray.items[" + strconv.Itoa(i) + "]."
			switch el.local {
			case "jobHandle":
				j.JobHandle, err = d.text()
				hasHandle = true
			case "jobName":
				j.JobName, err = d.text()
			case "logType":
				j.LogType, err = d.internedText()
			case "startDate":
				j.StartDate, err = d.date(path + "startDate")
			case "endDate":
				j.EndDate, err = d.date(path + "endDate")
			default:
				err = s.skip()
			}
			if err != nil {
				return err
			}
		}
		if !hasHandle {
			return malformed("jobLogArray.items[%d]: missing required element <jobHandle>", i)
		}
		out = append(out, j)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := d.s.finish(); err != nil {
		return nil, err
	}
	if out == nil {
		out = []pipeline.Job{}
	}
	return out, nil
}

// jobLogDetails decodes a getJobLogDetails response: the detail rows of
// every JobLog item, and the sum of their detailTotalRows.
func (d *decoder) jobLogDetails() ([]JobLogDetailRow, int, error) {
	if err := d.body("getJobLogDetailsReturn"); err != nil {
		return nil, 0, err
	}
	var rows []JobLogDetailRow
	total := 0
	err := d.array(d.s.depth(), "jobLogArray", func(i int) error {
		s := d.s
		for el, err := range s.fields(s.depth()) {
			if err != nil {
				return err
			}
			switch el.local {
			case "detailTotalRows":
				var n int
				n, err = d.integer("jobLogArray.items[" + strconv.Itoa(i) + "].detailTotalRows")
				total += n
			case "detailArray":
				err = d.detailArray(i, &rows)
			default:
				err = s.skip()
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	if err := d.s.finish(); err != nil {
		return nil, 0, err
	}
	return rows, total, nil
}

func (d *decoder) detailArray(i int, rows *[]JobLogDetailRow) error {
	s := d.s
	j := 0
	for _, err := range s.named(s.depth(), "items") {
		if err != nil {
			return err
		}
		var r JobLogDetailRow
		for el, err := range s.fields(s.depth()) {
			if err != nil {
				return err
			}
			switch el.local {
			case "assetHandle":
				r.AssetHandle, err = d.text()
			case "assetName":
				r.AssetName, err = d.text()
			case "assetType":
				r.AssetType, err = d.internedText()
			case "logType":
				r.LogType, err = d.internedText()
			case "logMessage":
				r.LogMessage, err = d.text()
			case "dateCreated":
				r.DateCreated, err = d.date("jobLogArray.items[" + strconv.Itoa(i) + "].detailArray.items[" + strconv.Itoa(j) + "].dateCreated")
			default:
				err = s.skip()
			}
			if err != nil {
				return err
			}
		}
		*rows = append(*rows, r)
		j++
	}
	return nil
}

// parseDateTime parses an xsd:dateTime with a zone (Z or ±hh:mm), with or
// without fractional seconds of any length, and returns it in UTC truncated
// to milliseconds. Surrounding XML whitespace is ignored.
func parseDateTime(b []byte) (time.Time, bool) {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	// yyyy-mm-ddThh:mm:ss
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	rest := b[19:]
	nsec := 0
	if rest[0] == '.' {
		n := 1
		scale := 100_000_000
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			nsec += int(rest[n]-'0') * scale
			scale /= 10
			n++
		}
		if n == 1 {
			return time.Time{}, false
		}
		rest = rest[n:]
	}
	offset := 0
	switch {
	case len(rest) == 1 && rest[0] == 'Z':
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := digits(rest[1:3])
		om, ok2 := digits(rest[4:6])
		if !ok1 || !ok2 || oh > 14 || om > 59 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return time.Time{}, false
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	t = t.Add(-time.Duration(offset) * time.Second)
	return t.Truncate(time.Millisecond), true
}

func digits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
