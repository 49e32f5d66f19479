package ipstest

import "strings"

// ReferenceRequest returns the getAssetJobLogs request of the example
// exchange in the IPS reference, written by hand rather than by this
// module's client, with password in its authHeader (company "c|6", user
// "api@example.com", asset "a|732|1|535"). Tests post it to check that the
// simulator answers a request in the documented shape.
func ReferenceRequest(password string) string {
	return strings.Replace(referenceRequest, "PASSWORD", password, 1)
}

const referenceRequest = `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Header>
  <authHeader xmlns="http://www.scene7.com/IpsApi/xsd">
   <user>api@example.com</user><password>PASSWORD</password><locale>en-US</locale>
   <appName>assetjoblog-producer</appName><appVersion>1.0</appVersion>
  </authHeader>
 </soapenv:Header>
 <soapenv:Body>
  <getAssetJobLogsParam xmlns="http://www.scene7.com/IpsApi/xsd/2014-04-03">
   <companyHandle>c|6</companyHandle><assetHandle>a|732|1|535</assetHandle>
  </getAssetJobLogsParam>
 </soapenv:Body>
</soapenv:Envelope>`
