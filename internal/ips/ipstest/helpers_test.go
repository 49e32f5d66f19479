package ipstest_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

const (
	envNS  = "http://schemas.xmlsoap.org/soap/envelope/"
	ipsNS  = "http://www.scene7.com/IpsApi/xsd"
	v2014  = ipsNS + "/2014-04-03"
	tsFmt  = "2006-01-02T15:04:05.000Z07:00"
	passwd = "secret"
)

// fixedClock is a settable clock for deterministic tests.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time          { return c.t }
func (c *fixedClock) Advance(d time.Duration) { c.t = c.t.Add(d) }

var epoch = time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC)

func authXML(user, password string) string {
	return `<authHeader xmlns="` + ipsNS + `"><user>` + user + `</user><password>` + password +
		`</password><locale>en-US</locale><appName>assetjoblog-test</appName><appVersion>1.0</appVersion></authHeader>`
}

// envelope builds a SOAP 1.1 request with the given header content and an
// operation element op+"Param" in namespace ns holding params.
func envelope(header, op, ns, params string) string {
	return `<soapenv:Envelope xmlns:soapenv="` + envNS + `"><soapenv:Header>` + header +
		`</soapenv:Header><soapenv:Body><` + op + `Param xmlns="` + ns + `">` + params + `</` + op +
		`Param></soapenv:Body></soapenv:Envelope>`
}

func el(name, value string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(value))
	return "<" + name + ">" + b.String() + "</" + name + ">"
}

type result struct {
	status int
	header http.Header
	body   []byte
}

// post sends body to url with SOAPAction op and no compression unless the
// extra headers ask for it.
func post(t testing.TB, url, op, body string, extra ...string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	req.Header.Set("SOAPAction", op)
	req.Header.Set("Accept-Encoding", "identity")
	for i := 0; i+1 < len(extra); i += 2 {
		req.Header.Set(extra[i], extra[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s answer: %v", op, err)
	}
	return result{resp.StatusCode, resp.Header, raw}
}

// node is a generic XML tree matched by namespace and local name.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []*node    `xml:",any"`
}

func parse(t testing.TB, raw []byte) *node {
	t.Helper()
	var n node
	if err := xml.Unmarshal(raw, &n); err != nil {
		t.Fatalf("answer is not XML: %v\n%s", err, raw)
	}
	return &n
}

func (n *node) all(ns, local string) []*node {
	if n == nil {
		return nil
	}
	var out []*node
	for _, c := range n.Nodes {
		if c.XMLName.Space == ns && c.XMLName.Local == local {
			out = append(out, c)
		}
	}
	return out
}

func (n *node) one(ns, local string) *node {
	if c := n.all(ns, local); len(c) > 0 {
		return c[0]
	}
	return nil
}

func (n *node) text(ns, local string) (string, bool) {
	c := n.one(ns, local)
	if c == nil {
		return "", false
	}
	return c.Text, true
}

// bodyChild returns the single element in soapenv:Body.
func bodyChild(t testing.TB, root *node) *node {
	t.Helper()
	b := root.one(envNS, "Body")
	if b == nil || len(b.Nodes) != 1 {
		t.Fatalf("want one element in soapenv:Body, got %+v", b)
	}
	return b.Nodes[0]
}

type fault struct {
	faultCode, faultString string
	detail                 string
	code                   int
	reason                 string
}

func faultOf(t testing.TB, raw []byte) fault {
	t.Helper()
	f := bodyChild(t, parse(t, raw))
	if f.XMLName.Space != envNS || f.XMLName.Local != "Fault" {
		t.Fatalf("want soapenv:Fault, got %v\n%s", f.XMLName, raw)
	}
	var out fault
	out.faultCode, _ = f.text("", "faultcode")
	out.faultString, _ = f.text("", "faultstring")
	if d := f.one("", "detail"); d != nil && len(d.Nodes) == 1 {
		dn := d.Nodes[0]
		if dn.XMLName.Space != ipsNS {
			t.Fatalf("fault detail namespace %q, want %q", dn.XMLName.Space, ipsNS)
		}
		out.detail = dn.XMLName.Local
		c, _ := dn.text(ipsNS, "code")
		out.code, _ = strconv.Atoi(c)
		out.reason, _ = dn.text(ipsNS, "reason")
	}
	return out
}

// flat is an entry reduced to comparable strings.
type flat struct {
	JobHandle, JobName, LogMessage, LogType, SubmitUserEmail, LogDate string
	Aux                                                               []string
}

func ms(t time.Time) string { return t.UTC().Format(tsFmt) }

func flatEntry(e ipstest.Entry) flat {
	f := flat{e.JobHandle, e.JobName, e.LogMessage, e.LogType, e.SubmitUserEmail, ms(e.LogDate), nil}
	for _, a := range e.AuxArray {
		s := a.LogMessage + "|" + a.LogType
		if a.DateCreated != nil {
			s += "|date=" + ms(*a.DateCreated)
		}
		if a.AssetHandle != nil {
			s += "|" + *a.AssetName + "|" + *a.AssetType + "|" + *a.AssetHandle
		}
		f.Aux = append(f.Aux, s)
	}
	return f
}

func mustTime(t testing.TB, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("bad dateTime %q: %v", s, err)
	}
	return d
}

// flatItems decodes the items of getAssetJobLogsReturn in namespace ns.
func flatItems(t testing.TB, raw []byte, ns string) []flat {
	t.Helper()
	ret := bodyChild(t, parse(t, raw))
	if ret.XMLName.Space != ns || ret.XMLName.Local != "getAssetJobLogsReturn" {
		t.Fatalf("got body element %v, want {%s}getAssetJobLogsReturn\n%.300s", ret.XMLName, ns, raw)
	}
	arr := ret.one(ns, "jobLogArray")
	if arr == nil {
		t.Fatalf("no jobLogArray")
	}
	var out []flat
	for _, it := range arr.all(ns, "items") {
		get := func(name string) string {
			v, ok := it.text(ns, name)
			if !ok {
				t.Fatalf("item lacks %s", name)
			}
			return v
		}
		f := flat{get("jobHandle"), get("jobName"), get("logMessage"), get("logType"),
			get("submitUserEmail"), ms(mustTime(t, get("logDate"))), nil}
		for _, a := range it.one(ns, "auxArray").all(ns, "items") {
			m, _ := a.text(ns, "logMessage")
			lt, _ := a.text(ns, "logType")
			s := m + "|" + lt
			if d, ok := a.text(ns, "dateCreated"); ok {
				s += "|date=" + ms(mustTime(t, d))
			}
			if h, ok := a.text(ns, "assetHandle"); ok {
				n, _ := a.text(ns, "assetName")
				ty, _ := a.text(ns, "assetType")
				s += "|" + n + "|" + ty + "|" + h
			}
			f.Aux = append(f.Aux, s)
		}
		out = append(out, f)
	}
	return out
}

func flatAll(es []ipstest.Entry) []flat {
	out := make([]flat, len(es))
	for i, e := range es {
		out[i] = flatEntry(e)
	}
	return out
}

func assetLogsRequest(company, asset string) string {
	return envelope(authXML("api@example.com", passwd), "getAssetJobLogs", v2014,
		el("companyHandle", company)+el("assetHandle", asset))
}

func jobLogsRequest(params string) string {
	return envelope(authXML("api@example.com", passwd), "getJobLogs", v2014, params)
}

func detailsRequest(job string, perPage, page int) string {
	return envelope(authXML("api@example.com", passwd), "getJobLogDetails", v2014,
		el("companyHandle", "c|6")+el("jobHandle", job)+
			el("recordsPerPage", strconv.Itoa(perPage))+el("resultsPage", strconv.Itoa(page)))
}

type job struct {
	handle, name, logType string
	start, end            string // end empty while running
	total                 int
	hasEnd                bool
}

func jobItems(t testing.TB, raw []byte, ret string) []*node {
	t.Helper()
	r := bodyChild(t, parse(t, raw))
	if r.XMLName != (xml.Name{Space: v2014, Local: ret}) {
		t.Fatalf("body element %v, want %s\n%.400s", r.XMLName, ret, raw)
	}
	return r.one(v2014, "jobLogArray").all(v2014, "items")
}

func decodeJob(t testing.TB, it *node) job {
	t.Helper()
	var j job
	j.handle, _ = it.text(v2014, "jobHandle")
	j.name, _ = it.text(v2014, "jobName")
	j.logType, _ = it.text(v2014, "logType")
	j.start, _ = it.text(v2014, "startDate")
	j.end, j.hasEnd = it.text(v2014, "endDate")
	n, _ := it.text(v2014, "totalFileCount")
	j.total, _ = strconv.Atoi(n)
	return j
}

// jobs lists getJobLogs' answer for params.
func jobs(t testing.TB, url, params string) []job {
	t.Helper()
	r := post(t, url, "getJobLogs", jobLogsRequest(params))
	if r.status != 200 {
		t.Fatalf("getJobLogs: status %d\n%s", r.status, r.body)
	}
	var out []job
	for _, it := range jobItems(t, r.body, "getJobLogsReturn") {
		out = append(out, decodeJob(t, it))
	}
	return out
}

// jobAssets pages through getJobLogDetails and returns the asset handle of
// every row, in order, and the detailTotalRows of the first page.
func jobAssets(t testing.TB, url, handle string, perPage int) ([]string, int) {
	t.Helper()
	var rows []string
	total := -1
	for page := 1; ; page++ {
		r := post(t, url, "getJobLogDetails", detailsRequest(handle, perPage, page))
		if r.status != 200 {
			t.Fatalf("getJobLogDetails page %d: status %d\n%s", page, r.status, r.body)
		}
		items := jobItems(t, r.body, "getJobLogDetailsReturn")
		if len(items) != 1 {
			t.Fatalf("got %d job items, want 1", len(items))
		}
		s, _ := items[0].text(v2014, "detailTotalRows")
		n, _ := strconv.Atoi(s)
		if total < 0 {
			total = n
		} else if n != total {
			t.Fatalf("detailTotalRows changed from %d to %d", total, n)
		}
		details := items[0].one(v2014, "detailArray").all(v2014, "items")
		for _, d := range details {
			h, _ := d.text(v2014, "assetHandle")
			rows = append(rows, h)
		}
		if len(details) < perPage {
			return rows, total
		}
		if page > 100000 {
			panic(fmt.Sprint("runaway paging of ", handle))
		}
	}
}
