package ips_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

// realisticPage builds a getAssetJobLogs response of n entries shaped like
// real ones: ns1 prefixes, one job handle per ten entries, a third of the
// entries with one or two auxArray rows.
func realisticPage(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Header/><soapenv:Body>` + "\n" +
		`<ns1:getAssetJobLogsReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03"><ns1:jobLogArray>` + "\n")
	types := []string{"BeginUpload", "UploadSuccess", "FileUpdated", "ImageServingPublishSuccess", "UploadWarning"}
	for i := 0; i < n; i++ {
		job := i / 10
		fmt.Fprintf(&b, `<ns1:items><ns1:jobHandle>j|2101||uploadFileServlet-%d|%d</ns1:jobHandle><ns1:jobName>uploadFileServlet-%d</ns1:jobName>`+
			`<ns1:logMessage>ApiTestCo/images/catalog/2024/product-%05d.jpg was processed into IPS &amp; published</ns1:logMessage>`+
			`<ns1:logType>%s</ns1:logType><ns1:submitUserEmail>uploader%d@example.com</ns1:submitUserEmail>`+
			`<ns1:logDate>2024-03-%02dT%02d:%02d:%02d.%03d-07:00</ns1:logDate>`,
			1376682217351+job, 54091+job, 1376682217351+job, i, types[i%len(types)], job%3,
			1+i%28, i%24, i%60, (i*7)%60, i%1000)
		if i%3 == 0 {
			b.WriteString(`<ns1:auxArray><ns1:items><ns1:logMessage>Image has no embedded color profile; sRGB assumed</ns1:logMessage><ns1:logType>IPSJobLog.gcUploadWarning</ns1:logType><ns1:dateCreated>2024-03-01T10:11:12.345-07:00</ns1:dateCreated></ns1:items>`)
			if i%2 == 0 {
				fmt.Fprintf(&b, `<ns1:items><ns1:logMessage>Thumbnail regenerated</ns1:logMessage><ns1:logType>IPSJobLog.gcUploadWarning</ns1:logType><ns1:assetName>product-%05d</ns1:assetName><ns1:assetType>Image</ns1:assetType><ns1:assetHandle>a|732|1|%d</ns1:assetHandle></ns1:items>`, i, 535+i)
			}
			b.WriteString(`</ns1:auxArray>`)
		}
		b.WriteString("</ns1:items>\n")
	}
	b.WriteString(`</ns1:jobLogArray></ns1:getAssetJobLogsReturn></soapenv:Body></soapenv:Envelope>` + "\n")
	return b.Bytes()
}

func TestRealisticPageDecodes(t *testing.T) {
	got, _, err := ips.DecodeAssetJobLogs(bytes.NewReader(realisticPage(1000)), testCompany, testAsset)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if len(got) != 1000 || len(got[996].AuxArray) != 2 || len(got[999].AuxArray) != 1 || got[998].AuxArray != nil {
		t.Fatalf("got %d entries; aux rows of 996: %d", len(got), len(got[996].AuxArray))
	}
}

func BenchmarkDecodeAssetJobLogs(b *testing.B) {
	page := realisticPage(1000)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ips.DecodeAssetJobLogs(bytes.NewReader(page), testCompany, testAsset); err != nil {
			b.Fatal(err)
		}
	}
}
