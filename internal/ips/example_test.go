package ips_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

func Example() {
	// A stand-in for the IPS endpoint.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
		io.WriteString(w, `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
 <ns1:getAssetJobLogsReturn xmlns:ns1="http://www.scene7.com/IpsApi/xsd/2014-04-03"><ns1:jobLogArray><ns1:items>
  <ns1:jobHandle>j|6||Add_2007-10-24-16:11:07</ns1:jobHandle><ns1:jobName>Add_2007-10-24-16:11:07</ns1:jobName>
  <ns1:logMessage>ApiTestCo/blakexslttest.jpg was processed into IPS</ns1:logMessage><ns1:logType>UploadSuccess</ns1:logType>
  <ns1:submitUserEmail>someone@example.com</ns1:submitUserEmail><ns1:logDate>2007-10-24T16:12:32.297-07:00</ns1:logDate>
 </ns1:items></ns1:jobLogArray></ns1:getAssetJobLogsReturn></soapenv:Body></soapenv:Envelope>`)
	}))
	defer srv.Close()

	client, err := ips.New(ips.Config{
		URL:      srv.URL + "/scene7/services/IpsApiService", // or Region: "na"
		User:     "api@example.com",
		Password: "secret",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	entries, _, err := client.AssetJobLogs(context.Background(), "c|6", "a|732|1|535")
	if err != nil {
		fmt.Println(err, "retryable:", ips.IsRetryable(err))
		return
	}
	for _, e := range entries {
		fmt.Println(e.AssetHandle, e.LogType, e.LogDate.Format("2006-01-02T15:04:05.000Z07:00"))
	}
	// Output:
	// a|732|1|535 UploadSuccess 2007-10-24T23:12:32.297Z
}
