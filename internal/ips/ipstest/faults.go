package ipstest

import (
	"fmt"
	"time"
)

// FaultKind is what an injected fault does to a call.
type FaultKind int

const (
	// FaultLatency delays the answer by Fault.Delay; the call then proceeds
	// (and may meet another fault). The wait ends early when the client
	// goes away or the server closes.
	FaultLatency FaultKind = iota + 1
	// FaultUnavailable answers HTTP 503 (or Status) with a short text body
	// and "Retry-After: <RetryAfter>" when RetryAfter > 0.
	FaultUnavailable
	// FaultTooManyRequests answers HTTP 429 (or Status), with Retry-After
	// when RetryAfter > 0.
	FaultTooManyRequests
	// FaultBadGateway answers HTTP 502 (or Status) with an empty body.
	FaultBadGateway
	// FaultGatewayHTML answers HTTP 503 (or Status) with a text/html
	// gateway error page, and Retry-After when RetryAfter > 0.
	FaultGatewayHTML
	// FaultSOAP answers with an IPS SOAP fault: Detail (default
	// ipsApiFault), Code (default 30000) and Reason, with HTTP status
	// Status, else the request's faultHttpStatusCode, else 500.
	FaultSOAP
	// FaultConnectionReset closes the connection with a TCP reset before
	// answering anything.
	FaultConnectionReset
	// FaultTruncated sends the real answer's headers (with its full
	// Content-Length) and half its body, then closes the connection.
	FaultTruncated
	// FaultMalformedXML answers HTTP 200 text/xml with a body that is not
	// well-formed XML.
	FaultMalformedXML
)

var faultKindNames = map[FaultKind]string{
	FaultLatency:         "latency",
	FaultUnavailable:     "unavailable",
	FaultTooManyRequests: "too-many-requests",
	FaultBadGateway:      "bad-gateway",
	FaultGatewayHTML:     "gateway-html",
	FaultSOAP:            "soap-fault",
	FaultConnectionReset: "connection-reset",
	FaultTruncated:       "truncated",
	FaultMalformedXML:    "malformed-xml",
}

// String names the kind.
func (k FaultKind) String() string {
	if s, ok := faultKindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// Fault is a programmed failure. It applies to the calls of operation Op
// (all calls when Op is empty, including unreadable requests): to the next
// Times calls when Times > 0; else to each call with probability
// Probability (drawn from the seeded generator) when Probability > 0; else
// to every call until ClearFaults.
//
// Faults are checked in the order they were injected after the request is
// read and counted, before authentication. Every matching FaultLatency adds
// its delay; the first matching fault of another kind decides the answer.
type Fault struct {
	Op          string
	Kind        FaultKind
	Times       int
	Probability float64

	// Delay is the added wait of FaultLatency.
	Delay time.Duration
	// Status overrides the HTTP status of the HTTP and SOAP kinds.
	Status int
	// RetryAfter is the Retry-After header value in seconds for
	// FaultUnavailable, FaultTooManyRequests and FaultGatewayHTML; 0 omits it.
	RetryAfter int

	// Detail, Code and Reason make the FaultSOAP answer.
	Detail FaultDetail
	Code   int
	Reason string
}

func (f *Fault) validate() error {
	switch {
	case f.Kind < FaultLatency || f.Kind > FaultMalformedXML:
		return fmt.Errorf("ipstest: unknown fault kind %d", int(f.Kind))
	case f.Times < 0:
		return fmt.Errorf("ipstest: fault Times %d is negative", f.Times)
	case !(f.Probability >= 0 && f.Probability <= 1):
		return fmt.Errorf("ipstest: fault Probability %v is outside [0,1]", f.Probability)
	case f.Delay < 0:
		return fmt.Errorf("ipstest: fault Delay %v is negative", f.Delay)
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return fmt.Errorf("ipstest: fault Status %d is not an HTTP status", f.Status)
	case f.Kind == FaultSOAP && f.Detail != "" && f.Detail != AuthenticationFault &&
		f.Detail != AuthorizationFault && f.Detail != IPSAPIFault:
		return fmt.Errorf("ipstest: unknown fault detail %q", f.Detail)
	}
	return nil
}

// Inject programs a fault. It panics if the fault is invalid (unknown kind,
// negative Times or Delay, Probability outside [0,1]).
func (h *Handler) Inject(f Fault) {
	if err := f.validate(); err != nil {
		panic(err)
	}
	if f.Kind == FaultSOAP {
		if f.Detail == "" {
			f.Detail = IPSAPIFault
		}
		if f.Code == 0 {
			f.Code = 30000
		}
	}
	h.faultMu.Lock()
	defer h.faultMu.Unlock()
	h.faults = append(h.faults, &f)
}

// ClearFaults removes every programmed fault, including the one WithErrorRate
// installed.
func (h *Handler) ClearFaults() {
	h.faultMu.Lock()
	defer h.faultMu.Unlock()
	h.faults = nil
}

// pickFaults returns the summed delay of matching latency faults and the
// first matching fault of another kind (nil if none), consuming Times.
func (h *Handler) pickFaults(op string) (time.Duration, *Fault) {
	h.faultMu.Lock()
	defer h.faultMu.Unlock()
	var delay time.Duration
	var chosen *Fault
	kept := h.faults[:0]
	for _, f := range h.faults {
		keep := true
		applies := f.Op == "" || f.Op == op
		if applies && f.Kind != FaultLatency && chosen != nil {
			applies = false
		}
		if applies {
			switch {
			case f.Times > 0:
				f.Times--
				keep = f.Times > 0
			case f.Probability > 0:
				applies = h.faultRand.Float64() < f.Probability
			}
		}
		if applies {
			if f.Kind == FaultLatency {
				delay += f.Delay
			} else {
				c := *f
				chosen = &c
			}
		}
		if keep {
			kept = append(kept, f)
		}
	}
	clear(h.faults[len(kept):])
	h.faults = kept
	return delay, chosen
}

const gatewayHTML = `<html>
<head><title>503 Service Temporarily Unavailable</title></head>
<body>
<center><h1>503 Service Temporarily Unavailable</h1></center>
<hr><center>gateway</center>
</body>
</html>
`

// malformedBody starts like a real answer and then breaks nesting.
const malformedBody = `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="` + soapEnvNS +
	`"><soapenv:Body><getAssetJobLogsReturn xmlns="` + ipsNSPrefix + `2014-04-03"><jobLogArray><items>` +
	`<jobHandle>j|6||broken</logType></items></soapenv:Body>`
