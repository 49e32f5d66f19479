package ips

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"time"
)

// requestDateLayout formats request dateTimes: RFC 3339 with milliseconds
// and a numeric offset (+00:00 rather than Z).
const requestDateLayout = "2006-01-02T15:04:05.000-07:00"

// authHeader renders the SOAP header once per Client: children in the order
// user, password or accessToken, locale, appName, appVersion.
func authHeader(c Config) []byte {
	var b bytes.Buffer
	b.WriteString(`<soapenv:Header><authHeader xmlns="` + nsIPSURI + `">`)
	if c.User != "" {
		element(&b, "user", c.User)
	}
	if c.AccessToken != "" {
		element(&b, "accessToken", c.AccessToken)
	} else {
		element(&b, "password", c.Password)
	}
	element(&b, "locale", c.Locale)
	element(&b, "appName", c.AppName)
	element(&b, "appVersion", c.AppVersion)
	b.WriteString(`</authHeader></soapenv:Header>`)
	return b.Bytes()
}

// envelope writes a request: the XML declaration, the envelope, the header
// and the opening of the body element <paramName> in the versioned
// namespace; fill writes the children; envelope closes the rest.
func (c *Client) envelope(paramName string, fill func(b *bytes.Buffer)) []byte {
	var b bytes.Buffer
	b.Grow(512)
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<soapenv:Envelope xmlns:soapenv="` + nsSOAPEnvURI + `">`)
	b.Write(c.header)
	b.WriteString(`<soapenv:Body><` + paramName + ` xmlns="` + nsIPSURI + "/")
	xml.EscapeText(&b, []byte(c.cfg.APIVersion)) //nolint:errcheck // bytes.Buffer writes do not fail
	b.WriteString(`">`)
	fill(&b)
	b.WriteString(`</` + paramName + `></soapenv:Body></soapenv:Envelope>` + "\n")
	return b.Bytes()
}

// element writes <name>escaped value</name>.
func element(b *bytes.Buffer, name, value string) {
	b.WriteByte('<')
	b.WriteString(name)
	b.WriteByte('>')
	xml.EscapeText(b, []byte(value)) //nolint:errcheck // bytes.Buffer writes do not fail
	b.WriteString("</")
	b.WriteString(name)
	b.WriteByte('>')
}

func (c *Client) assetJobLogsRequest(companyHandle, assetHandle string) []byte {
	return c.envelope("getAssetJobLogsParam", func(b *bytes.Buffer) {
		element(b, "companyHandle", companyHandle)
		element(b, "assetHandle", assetHandle)
	})
}

func (c *Client) jobLogsRequest(companyHandle string, start, end time.Time, numRows int) []byte {
	return c.envelope("getJobLogsParam", func(b *bytes.Buffer) {
		element(b, "companyHandle", companyHandle)
		element(b, "sortBy", "StartDate")
		element(b, "sortDirection", "Ascending")
		if !start.IsZero() {
			element(b, "startDate", start.Format(requestDateLayout))
		}
		if !end.IsZero() {
			element(b, "endDate", end.Format(requestDateLayout))
		}
		if numRows > 0 {
			element(b, "numRows", strconv.Itoa(numRows))
		}
	})
}

func (c *Client) jobLogDetailsRequest(companyHandle, jobHandle string, page, perPage int) []byte {
	return c.envelope("getJobLogDetailsParam", func(b *bytes.Buffer) {
		element(b, "companyHandle", companyHandle)
		element(b, "jobHandle", jobHandle)
		element(b, "recordsPerPage", strconv.Itoa(perPage))
		element(b, "resultsPage", strconv.Itoa(page))
		// Sorted by date, rows added while a job runs come after those
		// read before, so that a row count is a cursor (JobAssetsFrom).
		element(b, "sortBy", "Date")
		element(b, "sortDirection", "Ascending")
	})
}
