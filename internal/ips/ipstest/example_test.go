package ipstest_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
)

// A test starts the simulator, adds activity and reads an asset's log the
// way IPS serves it.
func ExampleNewServer() {
	clock := func() time.Time { return time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC) }
	s := ipstest.NewServer(ipstest.WithCatalog(100, 2), ipstest.WithClock(clock))
	defer s.Close()

	job := s.AddActivity([]int{42}, 1)
	fmt.Println("new job:", job)

	body := `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Header>` +
		`<authHeader xmlns="http://www.scene7.com/IpsApi/xsd"><user>api@example.com</user><password>secret</password></authHeader>` +
		`</soapenv:Header><soapenv:Body><getAssetJobLogsParam xmlns="http://www.scene7.com/IpsApi/xsd/2014-04-03">` +
		`<companyHandle>c|6</companyHandle><assetHandle>a|6|1|42</assetHandle></getAssetJobLogsParam></soapenv:Body></soapenv:Envelope>`
	resp, err := http.Post(s.URL(), "text/xml; charset=UTF-8", strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)

	fmt.Println("status:", resp.StatusCode)
	fmt.Println("items:", strings.Count(string(raw), "<logDate>"))
	entries := s.Entries(42)
	last := entries[len(entries)-1]
	fmt.Println("newest:", last.LogDate.Format(time.RFC3339Nano), last.JobHandle == string(job))
	fmt.Println("calls:", s.Calls(ipstest.OpGetAssetJobLogs))
	// Output:
	// new job: j|6||ImageServingPublish_2024-05-06-00:08:09|2
	// status: 200
	// items: 3
	// newest: 2024-05-06T07:08:09Z true
	// calls: 1
}
