package ips_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

func addFixtureSeeds(f *testing.F) {
	names, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(deeplyNested(70)))
}

// FuzzParseAssetJobLogs checks that any body decodes to entries, a *Fault
// or an ErrMalformedResponse, without panicking, and that decoded entries
// are in UTC at millisecond precision. It also puts the same bytes inside
// an entry between two good ones: as long as the response stays
// well-formed XML, the two good entries always decode, whatever the middle
// one holds.
func FuzzParseAssetJobLogs(f *testing.F) {
	addFixtureSeeds(f)
	for _, seed := range []string{
		`<ns1:logDate>31/11/2026 25:61</ns1:logDate>`,
		`<ns1:jobHandle>j</ns1:jobHandle><ns1:jobName>n</ns1:jobName><ns1:logMessage>m</ns1:logMessage><ns1:logType>t</ns1:logType><ns1:submitUserEmail>e</ns1:submitUserEmail><ns1:logDate>2026-11-01T00:00:00Z</ns1:logDate>`,
		`<ns1:auxArray>text<ns1:items><ns1:dateCreated>x</ns1:dateCreated></ns1:items></ns1:auxArray>`,
		"<ns1:logMessage>b\xffd \x01</ns1:logMessage>",
		`<ns1:logMessage><b/></ns1:logMessage>`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkNeighbours(t, body)
		got, bad, err := ips.DecodeAssetJobLogs(bytes.NewReader(body), testCompany, testAsset)
		for _, b := range bad {
			if b.RawSize < len(b.Raw) || len(b.Raw) == 0 || b.ID == "" || b.Reason == "" {
				t.Fatalf("bad entry %+v is incomplete", b)
			}
		}
		if err != nil {
			var fault *ips.Fault
			if !errors.As(err, &fault) && !errors.Is(err, ips.ErrMalformedResponse) {
				t.Fatalf("error %v is neither a Fault nor ErrMalformedResponse", err)
			}
			return
		}
		for i, e := range got {
			if e.LogDate.Location().String() != "UTC" || e.LogDate.Nanosecond()%1e6 != 0 {
				t.Fatalf("entry %d: LogDate %v not UTC milliseconds", i, e.LogDate)
			}
			if e.CompanyHandle != testCompany || e.AssetHandle != testAsset {
				t.Fatalf("entry %d: handles not filled", i)
			}
		}
	})
}

// FuzzParseFault checks the fault path of all three decoders: a body
// carrying a soapenv:Fault gives a *Fault whatever the operation.
func FuzzParseFault(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "fault_*.xml"))
	for _, name := range names {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, errA := ips.DecodeAssetJobLogs(bytes.NewReader(body), testCompany, testAsset)
		_, errJ := ips.DecodeJobLogs(bytes.NewReader(body))
		_, _, errD := ips.DecodeJobLogDetails(bytes.NewReader(body))
		var fa, fj, fd *ips.Fault
		a, j, d := errors.As(errA, &fa), errors.As(errJ, &fj), errors.As(errD, &fd)
		if a != j || j != d {
			t.Fatalf("fault detection differs between operations: %v / %v / %v", errA, errJ, errD)
		}
		if a && (*fa != *fj || *fj != *fd) {
			t.Fatalf("faults differ: %+v / %+v / %+v", *fa, *fj, *fd)
		}
		if a && strings.TrimSpace(fa.Kind.String()) == "" {
			t.Fatal("fault kind has no name")
		}
	})
}

// checkNeighbours decodes frag as the content of the middle of three
// entries.
func checkNeighbours(t *testing.T, frag []byte) {
	before, after := entryXML("before"), entryXML("after")
	middle := "<ns1:items>" + string(frag) + "</ns1:items>"
	body := logXML(before, middle, after)
	got, bad, err := ips.DecodeAssetJobLogs(strings.NewReader(body), testCompany, testAsset)
	if err != nil {
		if !errors.Is(err, ips.ErrMalformedResponse) {
			t.Fatalf("error %v is not ErrMalformedResponse", err)
		}
		if wellFormed(frag) {
			t.Fatalf("a well-formed middle entry cost its neighbours: %v", err)
		}
		return
	}
	if !wellFormed(frag) {
		// The fragment's own tags changed the document's structure (it
		// closed the middle entry and opened another, say): only the entry
		// before it is certain to be the same.
		if len(got) == 0 || got[0].LogMessage != "before" {
			t.Fatalf("the entry before a fragment that reshapes the document was lost: got %d good, %d bad", len(got), len(bad))
		}
		return
	}
	if len(got)+len(bad) != 3 {
		t.Fatalf("got %d good and %d bad entries, want 3 in all", len(got), len(bad))
	}
	if got[0].LogMessage != "before" || got[len(got)-1].LogMessage != "after" {
		t.Fatalf("neighbours lost: first %q, last %q", got[0].LogMessage, got[len(got)-1].LogMessage)
	}
	if len(bad) == 1 && (bad[0].Position != 1 || string(bad[0].Raw) != middle && len(middle) <= pipeline.MaxBadEntryRaw) {
		t.Fatalf("bad entry at %d with raw %q, want position 1 and raw %q", bad[0].Position, bad[0].Raw, middle)
	}
}

// wellFormed reports whether frag is well-formed element content using
// only the ns1 prefix, by encoding/xml's strict rules, once the bytes the
// decoder tolerates inside an entry (invalid UTF-8, control characters)
// are replaced.
func wellFormed(frag []byte) bool {
	clean := strings.Map(func(r rune) rune {
		if r == utf8.RuneError || r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(string(frag), "?"))
	d := xml.NewDecoder(strings.NewReader(`<r xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03">` + clean + `</r>`))
	d.Strict = true
	depth := 0
	for {
		tok, err := d.RawToken()
		if err == io.EOF {
			return depth == 0
		}
		if err != nil {
			return false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > 50 || t.Name.Space != "" && t.Name.Space != "ns1" {
				return false
			}
			for _, a := range t.Attr {
				if a.Name.Space != "" || a.Name.Local == "xmlns" {
					return false
				}
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return false
		}
	}
}
