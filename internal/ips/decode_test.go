package ips_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/pipeline"
)

func ptr[T any](v T) *T { return &v }

func ms(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// twoEntries is what asset_ns1.xml, asset_default_xmlns.xml and
// asset_tns.xml hold.
var twoEntries = []pipeline.AssetJobLog{
	{
		CompanyHandle:   testCompany,
		AssetHandle:     testAsset,
		JobHandle:       "j|6||Add_2007-10-24-16:11:07",
		JobName:         "Add_2007-10-24-16:11:07",
		LogMessage:      "ApiTestCo/blakexslttest.jpg was processed into IPS",
		LogType:         "UploadSuccess",
		SubmitUserEmail: "someone@example.com",
		LogDate:         ms("2007-10-24T23:12:32.297Z"),
		AuxArray: []pipeline.JobLogDetail{{
			LogMessage:  "Image has no color profile",
			LogType:     "IPSJobLog.gcUploadWarning",
			DateCreated: ptr(ms("2007-10-24T23:12:32.300Z")),
		}},
	},
	{
		CompanyHandle:   testCompany,
		AssetHandle:     testAsset,
		JobHandle:       "j|2101||uploadFileServlet-1376682217351|54091",
		JobName:         "uploadFileServlet-1376682217351",
		LogMessage:      "Fish & Chips <b> été <raw>",
		LogType:         "FileUpdated",
		SubmitUserEmail: "other@example.com",
		LogDate:         ms("2008-06-11T18:38:48.547Z"),
	},
}

func decodeFixture(t *testing.T, name string) ([]pipeline.AssetJobLog, error) {
	t.Helper()
	got, bad, err := ips.DecodeAssetJobLogs(bytes.NewReader(readFixture(t, name)), testCompany, testAsset)
	if len(bad) > 0 {
		t.Errorf("%s: unexpected bad entries: %v", name, bad)
	}
	return got, err
}

func checkEntries(t *testing.T, got, want []pipeline.AssetJobLog) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("entry %d:\n got %s\nwant %s", i, dump(got[i]), dump(want[i]))
		}
		if loc := got[i].LogDate.Location(); loc != time.UTC {
			t.Errorf("entry %d: LogDate location %v, want UTC", i, loc)
		}
	}
}

func dump(e pipeline.AssetJobLog) string {
	var b strings.Builder
	b.WriteString(strings.TrimSpace(strings.ReplaceAll(
		strings.Join([]string{e.CompanyHandle, e.AssetHandle, e.JobHandle, e.JobName, e.LogMessage, e.LogType, e.SubmitUserEmail, e.LogDate.Format(time.RFC3339Nano)}, " | "), "\n", " ")))
	for _, a := range e.AuxArray {
		b.WriteString("\n   aux: " + a.LogMessage + " | " + a.LogType)
		if a.DateCreated != nil {
			b.WriteString(" | date=" + a.DateCreated.Format(time.RFC3339Nano))
		}
		for _, p := range []*string{a.AssetName, a.AssetType, a.AssetHandle} {
			if p != nil {
				b.WriteString(" | " + *p)
			} else {
				b.WriteString(" | <nil>")
			}
		}
	}
	return b.String()
}

func TestDecodeAssetJobLogsPrefixesAndHeaders(t *testing.T) {
	for _, name := range []string{
		"asset_ns1.xml",           // ns1: prefix, empty soapenv:Header
		"asset_default_xmlns.xml", // default xmlns, Header with content, unknown elements
		"asset_tns.xml",           // tns: prefix, SOAP-ENV prefix, no Header, beta namespace
	} {
		t.Run(name, func(t *testing.T) {
			got, err := decodeFixture(t, name)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			checkEntries(t, got, twoEntries)
		})
	}
}

func TestDecodeAssetJobLogsBothAuxShapes(t *testing.T) {
	got, err := decodeFixture(t, "asset_aux_shapes.xml")
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := []pipeline.AssetJobLog{
		{
			CompanyHandle: testCompany, AssetHandle: testAsset,
			JobHandle: "j|6||Upload-1", JobName: "Upload-1", LogMessage: "processed with warnings",
			LogType: "UploadWarning", SubmitUserEmail: "someone@example.com",
			LogDate: ms("2020-01-02T03:04:05.678Z"),
			AuxArray: []pipeline.JobLogDetail{
				{LogMessage: "aux shape, no date", LogType: "IPSJobLog.gcUploadWarning"},
				{
					LogMessage: "detail shape", LogType: "IPSJobLog.gcUploadError",
					DateCreated: ptr(ms("2020-01-02T03:04:06Z")),
					AssetName:   ptr("photo.jpg"), AssetType: ptr("Image"), AssetHandle: ptr("a|732|1|535"),
				},
				{LogMessage: "", LogType: "IPSJobLog.gcUploadWarning", AssetName: ptr("")},
			},
		},
		{
			CompanyHandle: testCompany, AssetHandle: testAsset,
			JobHandle: "j|6||Upload-2", JobName: "Upload-2", LogMessage: "empty aux",
			LogType: "UploadSuccess", SubmitUserEmail: "someone@example.com",
			LogDate: ms("2020-01-02T03:04:07Z"),
		},
	}
	checkEntries(t, got, want)
}

func TestDecodeAssetJobLogsEmptyArrayGivesEmptySlice(t *testing.T) {
	got, err := decodeFixture(t, "asset_empty.xml")
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if got == nil || len(got) != 0 {
		t.Fatalf("got %#v, want an empty non-nil slice", got)
	}
}

func TestDecodeAssetJobLogsEmptyElementsAreEmptyStrings(t *testing.T) {
	got, err := decodeFixture(t, "asset_empty_elements.xml")
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	checkEntries(t, got, []pipeline.AssetJobLog{{
		CompanyHandle: testCompany, AssetHandle: testAsset,
		LogType: "DeleteSuccess", LogDate: ms("2021-03-04T05:06:07Z"),
	}})
}

func TestDecodeAssetJobLogsDates(t *testing.T) {
	got, err := decodeFixture(t, "asset_dates.xml")
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := map[string]time.Time{
		"zulu":              ms("2007-10-24T23:12:32.297Z"),
		"offset":            ms("2007-10-24T23:12:32.297Z"),
		"no fraction":       ms("2007-10-24T23:12:32Z"),
		"micro":             ms("2007-10-24T23:12:32.297Z"), // truncated, not rounded
		"one digit, spaces": ms("2007-10-24T23:12:32.200Z"),
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for _, e := range got {
		w, ok := want[e.JobName]
		if !ok {
			t.Fatalf("unexpected entry %q", e.JobName)
		}
		if !e.LogDate.Equal(w) || e.LogDate.Location() != time.UTC {
			t.Errorf("%s: got %s, want %s", e.JobName, e.LogDate.Format(time.RFC3339Nano), w.Format(time.RFC3339Nano))
		}
	}
}

func TestDecodeAssetJobLogsErrors(t *testing.T) {
	tests := []struct {
		fixture   string
		body      string
		wantInErr []string
	}{
		{fixture: "asset_truncated.xml", wantInErr: []string{"truncated"}},
		{fixture: "asset_doctype.xml", wantInErr: []string{"DTD"}},
		{fixture: "asset_wrong_ns.xml", wantInErr: []string{"no <getAssetJobLogsReturn>"}},
		{body: "", wantInErr: []string{"empty body"}},
		{body: "<html><body>Bad gateway</body></html>", wantInErr: []string{"<html>", "not a SOAP"}},
		{body: `<e:Envelope xmlns:e="urn:not-soap"/>`, wantInErr: []string{"not a SOAP"}},
		{body: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body></soapenv:Envelope>`, wantInErr: []string{"closed by"}},
		{body: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><x:Body/></soapenv:Envelope>`, wantInErr: []string{"undeclared namespace prefix \"x\""}},
		{body: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><a>&unknown;</a></soapenv:Body></soapenv:Envelope>`, wantInErr: []string{"entity"}},
		{body: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><ns1:getAssetJobLogsReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03"/></soapenv:Body></soapenv:Envelope><second/>`, wantInErr: []string{"second root"}},
		{body: deeplyNested(200), wantInErr: []string{"deeper than 64"}},
	}
	for _, tt := range tests {
		name := tt.fixture
		body := []byte(tt.body)
		if name == "" {
			name = tt.wantInErr[0]
		} else {
			body = readFixture(t, tt.fixture)
		}
		t.Run(name, func(t *testing.T) {
			got, _, err := ips.DecodeAssetJobLogs(bytes.NewReader(body), testCompany, testAsset)
			if err == nil {
				t.Fatalf("got %d entries and no error, want an error", len(got))
			}
			if !errors.Is(err, ips.ErrMalformedResponse) {
				t.Errorf("errors.Is(%v, ErrMalformedResponse) = false, want true", err)
			}
			for _, w := range tt.wantInErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// deeplyNested returns an envelope whose body nests n unknown elements.
func deeplyNested(n int) string {
	return `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>` +
		strings.Repeat("<x>", n) + strings.Repeat("</x>", n) + `</soapenv:Body></soapenv:Envelope>`
}

func TestDecodeAssetJobLogsFaults(t *testing.T) {
	tests := []struct {
		fixture string
		want    ips.Fault
	}{
		{"fault_authentication.xml", ips.Fault{Kind: ips.FaultAuthentication, Code: 10001, Reason: "Invalid username/password", FaultCode: "soapenv:Client", FaultString: "AuthenticationException"}},
		{"fault_authorization.xml", ips.Fault{Kind: ips.FaultAuthorization, Code: 20003, Reason: "No permission for operation", FaultCode: "soapenv:Client", FaultString: "AuthorizationException"}},
		{"fault_api_generic.xml", ips.Fault{Kind: ips.FaultAPI, Code: 30000, Reason: "Generic exception", FaultCode: "soapenv:Server", FaultString: "IpsApiException"}},
		{"fault_api_invalid_param.xml", ips.Fault{Kind: ips.FaultAPI, Code: 30001, Reason: "Invalid parameter: assetHandle", FaultCode: "soapenv:Client", FaultString: "IpsApiException"}},
		{"fault_unknown.xml", ips.Fault{Kind: ips.FaultUnknown, FaultCode: "soapenv:Server", FaultString: "java.lang.NullPointerException"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			_, err := decodeFixture(t, tt.fixture)
			var f *ips.Fault
			if !errors.As(err, &f) {
				t.Fatalf("got %v, want a *ips.Fault", err)
			}
			if *f != tt.want {
				t.Errorf("got %+v, want %+v", *f, tt.want)
			}
		})
	}
}

func TestDecodeJobLogs(t *testing.T) {
	got, err := ips.DecodeJobLogs(bytes.NewReader(readFixture(t, "joblogs.xml")))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := []pipeline.Job{
		{JobHandle: "j|6||Add_2007-10-24-16:11:07", JobName: "Add_2007-10-24-16:11:07", LogType: "Upload",
			StartDate: ms("2007-10-24T23:11:07Z"), EndDate: ms("2007-10-24T23:12:40.120Z")},
		{JobHandle: "j|2101||uploadFileServlet-1376682217351|54091", JobName: "uploadFileServlet-1376682217351", LogType: "Upload",
			StartDate: ms("2013-08-16T19:43:37.351Z")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if got[0].Running() || !got[1].Running() {
		t.Errorf("Running: got %v, %v; want false, true", got[0].Running(), got[1].Running())
	}
}

func TestDecodeJobLogDetails(t *testing.T) {
	rows, total, err := ips.DecodeJobLogDetails(bytes.NewReader(readFixture(t, "details_page1.xml")))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if total != 5 {
		t.Errorf("total: got %d, want 5", total)
	}
	want := []ips.JobLogDetailRow{
		{AssetHandle: "a|1|1|1", AssetName: "name-a|1|1|1", AssetType: "Image", LogType: "UploadSuccess", LogMessage: "ok"},
		{AssetHandle: "a|1|1|2", AssetName: "name-a|1|1|2", AssetType: "Image", LogType: "UploadSuccess", LogMessage: "ok"},
	}
	if !reflect.DeepEqual(rows, want) {
		t.Fatalf("got %+v\nwant %+v", rows, want)
	}
}
