package ips_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

// entryXML returns one well-formed items element of jobLogArray whose
// logMessage is msg (already escaped).
func entryXML(msg string) string {
	return `<ns1:items><ns1:jobHandle>j|6||Add</ns1:jobHandle><ns1:jobName>Add</ns1:jobName>` +
		`<ns1:logMessage>` + msg + `</ns1:logMessage><ns1:logType>UploadSuccess</ns1:logType>` +
		`<ns1:submitUserEmail>u@example.com</ns1:submitUserEmail><ns1:logDate>2026-11-01T12:00:00.000Z</ns1:logDate>` +
		`<ns1:auxArray><ns1:items><ns1:logMessage>aux</ns1:logMessage><ns1:logType>t</ns1:logType>` +
		`<ns1:dateCreated>2026-11-01T12:00:01Z</ns1:dateCreated></ns1:items></ns1:auxArray></ns1:items>`
}

// logXML wraps items elements in a getAssetJobLogs response.
func logXML(items ...string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
		`<ns1:getAssetJobLogsReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03"><ns1:jobLogArray>` + "\n" +
		strings.Join(items, "\n") + "\n" +
		`</ns1:jobLogArray></ns1:getAssetJobLogsReturn></soapenv:Body></soapenv:Envelope>`
}

func TestDecodeAssetJobLogsBadEntryKeepsItsNeighbours(t *testing.T) {
	good := entryXML("before")
	after := entryXML("after")
	drop := func(field string) string {
		e := entryXML("bad")
		start := strings.Index(e, "<ns1:"+field+">")
		end := strings.Index(e, "</ns1:"+field+">") + len("</ns1:"+field+">")
		return e[:start] + e[end:]
	}
	replace := func(old, new string) string { return strings.Replace(entryXML("bad"), old, new, 1) }
	tests := []struct {
		name        string
		bad         string
		wantElement string
		wantReason  []string
	}{
		{"jobHandle missing", drop("jobHandle"), "jobLogArray.items[1]", []string{"missing required element <jobHandle>"}},
		{"jobName missing", drop("jobName"), "jobLogArray.items[1]", []string{"missing required element <jobName>"}},
		{"logMessage missing", drop("logMessage"), "jobLogArray.items[1]", []string{"missing required element <logMessage>"}},
		{"logType missing", replace("<ns1:logType>UploadSuccess</ns1:logType>", ""), "jobLogArray.items[1]", []string{"missing required element <logType>"}},
		{"submitUserEmail missing", drop("submitUserEmail"), "jobLogArray.items[1]", []string{"missing required element <submitUserEmail>"}},
		{"logDate missing", drop("logDate"), "jobLogArray.items[1]", []string{"missing required element <logDate>"}},
		{"unparsable logDate", replace("2026-11-01T12:00:00.000Z", "31/11/2026 25:61"), "jobLogArray.items[1].logDate", []string{"unparsable dateTime", "31/11/2026 25:61"}},
		{"impossible logDate", replace("2026-11-01T12:00:00.000Z", "2026-11-31T25:61:00Z"), "jobLogArray.items[1].logDate", []string{"unparsable dateTime"}},
		{"unparsable dateCreated", replace("2026-11-01T12:00:01Z", "yesterday"), "jobLogArray.items[1].auxArray.items[0].dateCreated", []string{"unparsable dateTime", "yesterday"}},
		{"aux row missing logType", replace("<ns1:logType>t</ns1:logType>", ""), "jobLogArray.items[1].auxArray.items[0]", []string{"missing required element <logType>"}},
		{"auxArray holding text", replace("<ns1:auxArray><ns1:items>", "<ns1:auxArray>not an array<ns1:items>"), "jobLogArray.items[1].auxArray", []string{"holds text"}},
		{"aux field holding an element", replace("<ns1:logMessage>aux</ns1:logMessage>", "<ns1:logMessage><ns1:items>aux</ns1:items></ns1:logMessage>"), "jobLogArray.items[1].auxArray.items[0].logMessage", []string{"element <items> where text belongs"}},
		{"entry field holding an element", replace("<ns1:jobName>Add</ns1:jobName>", "<ns1:jobName>A<b/>dd</ns1:jobName>"), "jobLogArray.items[1].jobName", []string{"element <b> where text belongs"}},
		{"invalid UTF-8", replace(">bad<", ">b\xffd \xc3<"), "jobLogArray.items[1]", []string{"invalid UTF-8 at byte"}},
		{"control character", replace(">bad<", ">b\x01d<"), "jobLogArray.items[1]", []string{"character not allowed in XML"}},
		{"invalid UTF-8 in a date", replace("2026-11-01T12:00:00.000Z", "2026-11-01T12:00:\xff0.000Z"), "jobLogArray.items[1]", []string{"invalid UTF-8 at byte"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := logXML(good, tt.bad, after)
			got, bad, err := ips.DecodeAssetJobLogs(strings.NewReader(body), testCompany, testAsset)
			if err != nil {
				t.Fatalf("decode: %v (want the neighbours and one bad entry)", err)
			}
			if len(got) != 2 || got[0].LogMessage != "before" || got[1].LogMessage != "after" || len(got[1].AuxArray) != 1 {
				t.Fatalf("good entries: got %d: %v, want before and after", len(got), got)
			}
			if len(bad) != 1 {
				t.Fatalf("bad entries: got %d, want 1", len(bad))
			}
			b := bad[0]
			if b.Position != 1 || b.Element != tt.wantElement {
				t.Errorf("got position %d element %q, want 1 and %q", b.Position, b.Element, tt.wantElement)
			}
			for _, w := range tt.wantReason {
				if !strings.Contains(b.Reason, w) {
					t.Errorf("reason %q does not say %q", b.Reason, w)
				}
			}
			if !bytes.Equal(b.Raw, []byte(tt.bad)) || b.RawSize != len(tt.bad) {
				t.Errorf("raw:\n got %q (size %d)\nwant %q (size %d)", b.Raw, b.RawSize, tt.bad, len(tt.bad))
			}
			sum := sha256.Sum256([]byte(tt.bad))
			if b.ID != hex.EncodeToString(sum[:16]) {
				t.Errorf("id %s is not the hash of the raw entry", b.ID)
			}
		})
	}
}

func TestDecodeAssetJobLogsBadEntryIsBounded(t *testing.T) {
	huge := strings.Repeat("x", 3*pipeline.MaxBadEntryRaw)
	bad := strings.Replace(entryXML(huge), "2026-11-01T12:00:00.000Z", "never", 1)
	got, bads, err := ips.DecodeAssetJobLogs(strings.NewReader(logXML(entryXML("a"), bad, entryXML("b"))), testCompany, testAsset)
	if err != nil || len(got) != 2 || len(bads) != 1 {
		t.Fatalf("got %d good, %d bad, %v; want 2, 1, nil", len(got), len(bads), err)
	}
	b := bads[0]
	if len(b.Raw) != pipeline.MaxBadEntryRaw || b.RawSize != len(bad) || !strings.HasPrefix(bad, string(b.Raw)) {
		t.Fatalf("raw: got %d bytes of %d, want the first %d of %d", len(b.Raw), b.RawSize, pipeline.MaxBadEntryRaw, len(bad))
	}
	sum := sha256.Sum256([]byte(bad))
	if b.ID != hex.EncodeToString(sum[:16]) {
		t.Error("the id is not the hash of the whole raw entry")
	}
}

func TestDecodeAssetJobLogsStableIDs(t *testing.T) {
	bad := strings.Replace(entryXML("x"), "2026-11-01T12:00:00.000Z", "never", 1)
	_, first, _ := ips.DecodeAssetJobLogs(strings.NewReader(logXML(bad, entryXML("a"))), testCompany, testAsset)
	// The same entry at another position, with other entries around it.
	_, again, _ := ips.DecodeAssetJobLogs(strings.NewReader(logXML(entryXML("new"), entryXML("a"), bad)), testCompany, testAsset)
	if len(first) != 1 || len(again) != 1 || first[0].ID != again[0].ID {
		t.Fatalf("ids: %v / %v, want one each, equal", first, again)
	}
	if first[0].Position != 0 || again[0].Position != 2 {
		t.Errorf("positions: got %d and %d, want 0 and 2", first[0].Position, again[0].Position)
	}
}

func TestDecodeAssetJobLogsBadBytesOutsideAnEntryFailTheResponse(t *testing.T) {
	for name, body := range map[string]string{
		"in the envelope":      strings.Replace(logXML(entryXML("a")), "<soapenv:Body>", "<soapenv:Body>\xff", 1),
		"between entries":      logXML(entryXML("a"), "\x01", entryXML("b")),
		"in an attribute name": strings.Replace(logXML(entryXML("a")), "xmlns:ns1", "xmlns:n\xff1", 1),
	} {
		t.Run(name, func(t *testing.T) {
			got, bad, err := ips.DecodeAssetJobLogs(strings.NewReader(body), testCompany, testAsset)
			if err == nil {
				t.Fatalf("got %d entries, %d bad, no error; want a malformed response", len(got), len(bad))
			}
		})
	}
}

func TestDecodeOtherOperationsRefuseBadBytes(t *testing.T) {
	body := strings.Replace(string(readFixture(t, "joblogs.xml")), "Upload", "Up\xffload", 1)
	if _, err := ips.DecodeJobLogs(strings.NewReader(body)); err == nil || !strings.Contains(err.Error(), "invalid UTF-8") {
		t.Fatalf("got %v, want an invalid UTF-8 error", err)
	}
}

// TestDecodeAssetJobLogsSmallReads feeds the decoder one byte at a time,
// so that every token and UTF-8 sequence straddles reads.
func TestDecodeAssetJobLogsSmallReads(t *testing.T) {
	bad := strings.Replace(entryXML("é\xff"), "<ns1:logType>UploadSuccess</ns1:logType>", "", 1)
	body := logXML(entryXML("été"), bad, entryXML("ünï"))
	got, bads, err := ips.DecodeAssetJobLogs(&oneByteReader{s: body}, testCompany, testAsset)
	if err != nil || len(got) != 2 || len(bads) != 1 {
		t.Fatalf("got %d good, %d bad, %v; want 2, 1, nil", len(got), len(bads), err)
	}
	if got[0].LogMessage != "été" || got[1].LogMessage != "ünï" || string(bads[0].Raw) != bad {
		t.Fatalf("got %q, %q and raw %q", got[0].LogMessage, got[1].LogMessage, bads[0].Raw)
	}
}

type oneByteReader struct {
	s string
	i int
}

func (r *oneByteReader) Read(p []byte) (int, error) {
	if r.i >= len(r.s) {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.s[r.i]
	r.i++
	return 1, nil
}
