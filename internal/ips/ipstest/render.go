package ipstest

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"sync"
	"time"
)

const dateLayout = "2006-01-02T15:04:05.000-07:00"

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuf() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 16<<20 {
		bufPool.Put(b)
	}
}

// xw writes IPS elements with one prefix ("" or "ns1:") into a buffer,
// without reflection.
type xw struct {
	b   *bytes.Buffer
	p   string
	loc *time.Location
}

func (w *xw) open(name string) {
	w.b.WriteByte('<')
	w.b.WriteString(w.p)
	w.b.WriteString(name)
	w.b.WriteByte('>')
}

func (w *xw) close(name string) {
	w.b.WriteString("</")
	w.b.WriteString(w.p)
	w.b.WriteString(name)
	w.b.WriteByte('>')
}

func (w *xw) text(name, v string) {
	w.open(name)
	escape(w.b, v)
	w.close(name)
}

func (w *xw) date(name string, t time.Time) {
	w.open(name)
	w.b.Write(t.In(w.loc).AppendFormat(w.b.AvailableBuffer(), dateLayout))
	w.close(name)
}

func (w *xw) int(name string, v int) {
	w.open(name)
	w.b.Write(strconv.AppendInt(w.b.AvailableBuffer(), int64(v), 10))
	w.close(name)
}

func (w *xw) bool(name string, v bool) {
	w.open(name)
	w.b.WriteString(strconv.FormatBool(v))
	w.close(name)
}

// escape writes s as XML character data. Plain ASCII is copied as is; the
// rest goes through xml.EscapeText.
func escape(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '<' || c == '>' || c == '&' || c == '\'' || c == '"' {
			_ = xml.EscapeText(b, []byte(s))
			return
		}
	}
	b.WriteString(s)
}

// startEnvelope writes everything up to and including the opening return
// element, which is in namespace ns, and returns the writer for its content.
func startEnvelope(b *bytes.Buffer, p Prefix, ns, ret string, loc *time.Location) *xw {
	w := &xw{b: b, loc: loc}
	switch p {
	case PrefixNS1:
		b.WriteString(`<?xml version="1.0" encoding="utf-8"?>` +
			`<soapenv:Envelope xmlns:soapenv="` + soapEnvNS + `" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">` +
			`<soapenv:Header/><soapenv:Body><ns1:`)
		b.WriteString(ret)
		b.WriteString(` xmlns:ns1="`)
		escape(b, ns)
		b.WriteString(`">`)
		w.p = "ns1:"
	case PrefixTNS:
		b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + soapEnvNS + `" xmlns:tns="`)
		escape(b, ns)
		b.WriteString(`"><soapenv:Header></soapenv:Header><soapenv:Body><tns:`)
		b.WriteString(ret)
		b.WriteByte('>')
		w.p = "tns:"
	default:
		b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` +
			`<soapenv:Envelope xmlns:soapenv="` + soapEnvNS + `"><soapenv:Body><`)
		b.WriteString(ret)
		b.WriteString(` xmlns="`)
		escape(b, ns)
		b.WriteString(`">`)
	}
	return w
}

func endEnvelope(w *xw, ret string) {
	w.close(ret)
	w.b.WriteString(`</soapenv:Body></soapenv:Envelope>`)
}

// MalformedLogDate is the logDate of a malformed entry (WithMalformedEntries).
const MalformedLogDate = "31/11/2026 25:61"

// writeAssetEntry writes one AssetJobLog as an items element.
func writeAssetEntry(w *xw, e *Entry) {
	w.open("items")
	w.text("jobHandle", e.JobHandle)
	w.text("jobName", e.JobName)
	w.text("logMessage", e.LogMessage)
	w.text("logType", e.LogType)
	w.text("submitUserEmail", e.SubmitUserEmail)
	if e.Malformed {
		w.text("logDate", MalformedLogDate)
	} else {
		w.date("logDate", e.LogDate)
	}
	if len(e.AuxArray) > 0 {
		w.open("auxArray")
		for i := range e.AuxArray {
			a := &e.AuxArray[i]
			w.open("items")
			w.text("logMessage", a.LogMessage)
			w.text("logType", a.LogType)
			if a.DateCreated != nil {
				w.date("dateCreated", *a.DateCreated)
			}
			if a.AssetHandle != nil {
				w.text("assetName", deref(a.AssetName))
				w.text("assetType", deref(a.AssetType))
				w.text("assetHandle", *a.AssetHandle)
			}
			w.close("items")
		}
		w.close("auxArray")
	}
	w.close("items")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// writeJobFields writes a JobLog's fields up to fatalError.
func writeJobFields(w *xw, company string, j *jobInfo, counts *[numCountFields]int) {
	w.text("companyHandle", company)
	w.text("jobHandle", j.handle)
	w.text("jobName", j.name)
	w.text("originalJobName", j.name)
	w.text("submitUserEmail", j.submitter)
	w.text("logType", j.logType)
	w.text("jobSubType", j.subType)
	w.date("startDate", j.start)
	if !j.end.IsZero() {
		w.date("endDate", j.end)
	}
	w.text("description", j.logType+" of "+strconv.Itoa(j.rows)+" files")
	w.int("fileSuccessCount", counts[countSuccess])
	w.int("fileErrorCount", counts[countError])
	w.int("fileWarningCount", counts[countWarning])
	w.int("fileDuplicateCount", counts[countDuplicate])
	w.int("fileUpdateCount", counts[countUpdate])
	w.int("totalFileCount", j.rows)
	w.int("transferSuccessCount", j.rows-counts[countError])
	w.int("transferErrorCount", counts[countError])
	w.int("transferWarningCount", 0)
	w.bool("fatalError", false)
}

// writeDetail writes one JobLogDetail row of getJobLogDetails.
func writeDetail(w *xw, e *Entry, a *assetMeta) {
	w.open("items")
	w.text("logMessage", e.LogMessage)
	w.text("logType", e.LogType)
	w.date("dateCreated", e.LogDate)
	w.text("assetName", a.name)
	w.text("assetType", a.kind)
	w.text("assetHandle", e.AssetHandle)
	w.close("items")
}

// FaultDetail names the detail element of an IPS SOAP fault.
type FaultDetail string

// The three IPS fault detail elements, in http://www.scene7.com/IpsApi/xsd.
const (
	AuthenticationFault FaultDetail = "authenticationFault"
	AuthorizationFault  FaultDetail = "authorizationFault"
	IPSAPIFault         FaultDetail = "ipsApiFault"
)

// soapFault is a fault the simulator answers with.
type soapFault struct {
	detail FaultDetail // empty: a plain SOAP fault without IPS detail
	code   int
	reason string
	// faultString overrides the default faultstring.
	faultString string
}

func (f *soapFault) faultCode() string {
	if f.detail == IPSAPIFault && f.code == 30000 {
		return "soapenv:Server"
	}
	return "soapenv:Client"
}

func (f *soapFault) faultStringOrDefault() string {
	if f.faultString != "" {
		return f.faultString
	}
	switch f.detail {
	case AuthenticationFault:
		return "AuthenticationException"
	case AuthorizationFault:
		return "AuthorizationException"
	case IPSAPIFault:
		return "IpsApiException"
	}
	return "Fault"
}

// writeFault writes the fault envelope of REFERENCE shape: the detail
// element with a prefix (ns1, or tns in the tns style) and code and reason
// each declaring the namespace as default.
func writeFault(b *bytes.Buffer, p Prefix, f *soapFault) {
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + soapEnvNS + `"><soapenv:Body><soapenv:Fault><faultcode>`)
	b.WriteString(f.faultCode())
	b.WriteString(`</faultcode><faultstring>`)
	escape(b, f.faultStringOrDefault())
	b.WriteString(`</faultstring>`)
	if f.detail != "" {
		pre := "ns1"
		if p == PrefixTNS {
			pre = "tns"
		}
		b.WriteString(`<detail><` + pre + `:`)
		b.WriteString(string(f.detail))
		b.WriteString(` xmlns:` + pre + `="` + IPSNamespace + `"><code xmlns="` + IPSNamespace + `">`)
		b.WriteString(strconv.Itoa(f.code))
		b.WriteString(`</code><reason xmlns="` + IPSNamespace + `">`)
		escape(b, f.reason)
		b.WriteString(`</reason></` + pre + `:`)
		b.WriteString(string(f.detail))
		b.WriteString(`></detail>`)
	}
	b.WriteString(`</soapenv:Fault></soapenv:Body></soapenv:Envelope>`)
}
