package ipstest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

const (
	soapEnvNS = "http://schemas.xmlsoap.org/soap/envelope/"
	// IPSNamespace is the unversioned IPS namespace of authHeader and of the
	// fault detail elements.
	IPSNamespace = "http://www.scene7.com/IpsApi/xsd"
	// ipsNSPrefix starts every versioned namespace.
	ipsNSPrefix = IPSNamespace + "/"
)

// Operation names, as counted by Calls and matched by Fault.Op.
const (
	OpGetAssetJobLogs  = "getAssetJobLogs"
	OpGetJobLogs       = "getJobLogs"
	OpGetJobLogDetails = "getJobLogDetails"
	OpSearchAssets     = "searchAssets"
)

// soapRequest is what the simulator reads from a request envelope.
type soapRequest struct {
	// op is the body element's local name without "Param"; empty when the
	// envelope could not be read.
	op string
	// ns is the body element's namespace, echoed in the response.
	ns      string
	isParam bool
	fields  map[string]string
	// arrays holds the items of the parameter's array children
	// (assetTypeArray, responseFieldArray, logTypeArray, ...), by array name.
	arrays map[string][]string
	auth   authHeader
}

type authHeader struct {
	present       bool
	hasCredential bool // user, password or accessToken sent
	user          string
	password      string
	accessToken   string
	locale        string
	noGzip        bool
	faultStatus   int
}

// version returns the <v> of the body namespace, or "" if the namespace is
// not a versioned IPS namespace.
func (r *soapRequest) version() string {
	v, ok := strings.CutPrefix(r.ns, ipsNSPrefix)
	if !ok || v == "" || strings.Contains(v, "/") {
		return ""
	}
	return v
}

func isIPSNamespace(ns string) bool {
	return ns == IPSNamespace || strings.HasPrefix(ns, ipsNSPrefix)
}

var errEmptyBody = errors.New("SOAP body has no element")

// parseRequest reads a SOAP 1.1 envelope. Elements are matched by namespace
// and local name; children of the operation element count only when they
// are in its namespace (element form is qualified). Any well-formedness
// error is returned, after whatever of the authHeader was read, so the
// fault can honour faultHttpStatusCode.
func parseRequest(body []byte, req *soapRequest) error {
	dec := xml.NewDecoder(bytes.NewReader(body))
	root, err := nextStart(dec)
	if err != nil {
		return err
	}
	if root.Name.Space != soapEnvNS || root.Name.Local != "Envelope" {
		return fmt.Errorf("root element {%s}%s is not a SOAP 1.1 Envelope", root.Name.Space, root.Name.Local)
	}
	sawBody := false
	for done := false; !done; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == soapEnvNS && t.Name.Local == "Header":
				err = parseHeader(dec, req)
			case t.Name.Space == soapEnvNS && t.Name.Local == "Body":
				sawBody = true
				err = parseBody(dec, req)
			default:
				err = dec.Skip()
			}
			if err != nil {
				return err
			}
		case xml.EndElement:
			done = true
		}
	}
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			return err
		}
	}
	if !sawBody || req.op == "" {
		return errEmptyBody
	}
	return nil
}

func nextStart(dec *xml.Decoder) (xml.StartElement, error) {
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return xml.StartElement{}, io.ErrUnexpectedEOF
		}
		if err != nil {
			return xml.StartElement{}, err
		}
		if t, ok := tok.(xml.StartElement); ok {
			return t, nil
		}
	}
}

// children calls fn for each child element of the element just opened;
// fn must consume the child (readText or dec.Skip).
func children(dec *xml.Decoder, fn func(xml.StartElement) error) error {
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if err := fn(t); err != nil {
				return err
			}
		case xml.EndElement:
			return nil
		}
	}
}

// readText returns the character data of the element just opened, skipping
// nested elements.
func readText(dec *xml.Decoder) (string, error) {
	var sb strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			sb.Write(t)
		case xml.StartElement:
			if err := dec.Skip(); err != nil {
				return "", err
			}
		case xml.EndElement:
			return sb.String(), nil
		}
	}
}

func parseHeader(dec *xml.Decoder, req *soapRequest) error {
	return children(dec, func(el xml.StartElement) error {
		if el.Name.Local != "authHeader" || !isIPSNamespace(el.Name.Space) {
			return dec.Skip()
		}
		a := &req.auth
		a.present = true
		ns := el.Name.Space
		return children(dec, func(f xml.StartElement) error {
			if f.Name.Space != ns {
				return dec.Skip()
			}
			v, err := readText(dec)
			if err != nil {
				return err
			}
			v = strings.TrimSpace(v)
			switch f.Name.Local {
			case "user":
				a.user, a.hasCredential = v, true
			case "password":
				a.password, a.hasCredential = v, true
			case "accessToken":
				a.accessToken, a.hasCredential = v, true
			case "locale":
				a.locale = v
			case "gzipResponse":
				a.noGzip = v == "false" || v == "0"
			case "faultHttpStatusCode":
				if n, err := strconv.Atoi(v); err == nil && n >= 100 && n <= 599 {
					a.faultStatus = n
				}
			}
			return nil
		})
	})
}

func parseBody(dec *xml.Decoder, req *soapRequest) error {
	return children(dec, func(el xml.StartElement) error {
		if req.op != "" {
			return dec.Skip()
		}
		req.op, req.isParam = strings.CutSuffix(el.Name.Local, "Param")
		req.ns = el.Name.Space
		req.fields = make(map[string]string, 8)
		return children(dec, func(f xml.StartElement) error {
			if f.Name.Space != req.ns {
				return dec.Skip()
			}
			if name := f.Name.Local; strings.HasSuffix(name, "Array") {
				if req.arrays == nil {
					req.arrays = make(map[string][]string, 2)
				}
				req.arrays[name] = []string{}
				return children(dec, func(it xml.StartElement) error {
					if it.Name.Space != req.ns || it.Name.Local != "items" {
						return dec.Skip()
					}
					v, err := readText(dec)
					if err == nil {
						v = strings.TrimSpace(v)
						req.arrays[name] = append(req.arrays[name], v)
					}
					return err
				})
			}
			v, err := readText(dec)
			if err == nil {
				req.fields[f.Name.Local] = strings.TrimSpace(v)
			}
			return err
		})
	})
}
