package ips

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrResponseTooLarge is returned (wrapped) when a response body, after gzip
// decoding, exceeds Config.MaxResponseBytes. It is not retryable: the same
// request would get the same answer.
var ErrResponseTooLarge = errors.New("response too large")

// ErrMalformedResponse is returned (wrapped) when a response body is not the
// SOAP envelope the operation expects: broken or truncated XML, a body that
// is not SOAP, nesting deeper than the decoder allows, or a missing or
// unparsable required element. The message says what was wrong and where.
var ErrMalformedResponse = errors.New("malformed response")

// maxDepth is the deepest element nesting a response may have.
const maxDepth = 64

// malformedError is an ErrMalformedResponse with its cause.
type malformedError struct {
	msg string
	// truncated is set when the document ended before its root element
	// closed: the body was cut short, which a later call may not repeat.
	truncated bool
	// local is set when the document is well-formed XML but one element's
	// content is wrong (a required child missing, an unparsable date, an
	// element where text belongs): element names it (empty until the
	// decoder knows where it was) and reason says what is wrong. A decoder
	// can skip the entry holding it and go on.
	local           bool
	element, reason string
}

// badElement returns a local malformedError about element.
func badElement(element, format string, args ...any) error {
	reason := fmt.Sprintf(format, args...)
	msg := reason
	if element != "" {
		msg = element + ": " + reason
	}
	return &malformedError{msg: msg, local: true, element: element, reason: reason}
}

// localError returns err as a local malformedError, naming element when
// err does not name one yet, or nil when err is not local.
func localError(err error, element string) *malformedError {
	var me *malformedError
	if !errors.As(err, &me) || !me.local {
		return nil
	}
	if me.element == "" {
		me.element = element
		me.msg = element + ": " + me.reason
	}
	return me
}

func (e *malformedError) Error() string { return "malformed response: " + e.msg }

// Is makes errors.Is(err, ErrMalformedResponse) true.
func (e *malformedError) Is(target error) bool { return target == ErrMalformedResponse }

func malformed(format string, args ...any) error {
	return &malformedError{msg: fmt.Sprintf(format, args...)}
}

// tooLargeError is an ErrResponseTooLarge that says the limit.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("response too large: body exceeds MaxResponseBytes (%d bytes)", e.limit)
}

func (e *tooLargeError) Is(target error) bool { return target == ErrResponseTooLarge }

// FaultKind classifies a SOAP fault by its IPS detail element.
type FaultKind int

// Fault kinds.
const (
	// FaultUnknown is a SOAP fault without a recognised IPS detail.
	FaultUnknown FaultKind = iota
	// FaultAuthentication is an authenticationFault (codes 10000-10002):
	// missing or invalid credentials.
	FaultAuthentication
	// FaultAuthorization is an authorizationFault (codes 20000-20009): the
	// user may not do this to this company or asset.
	FaultAuthorization
	// FaultAPI is an ipsApiFault: 30000 generic exception, 30001 invalid
	// parameter, 30002 missing parameter, 30003 invalid request XML.
	FaultAPI
)

// String returns the kind's name.
func (k FaultKind) String() string {
	switch k {
	case FaultAuthentication:
		return "authentication"
	case FaultAuthorization:
		return "authorization"
	case FaultAPI:
		return "api"
	default:
		return "unknown"
	}
}

// Fault is a SOAP fault returned by IPS, whatever the HTTP status it came
// with (500 by default, 200 when the request asked for faultHttpStatusCode).
type Fault struct {
	// Kind is the IPS detail element that classified the fault.
	Kind FaultKind
	// Code is the IPS fault code (10001, 20003, 30001, ...); 0 when the
	// fault carried none.
	Code int
	// Reason is the IPS detail's reason text.
	Reason string
	// FaultCode and FaultString are the SOAP faultcode and faultstring.
	FaultCode   string
	FaultString string
	// HTTPStatus is the status code of the response that carried the
	// fault.
	HTTPStatus int
}

// Error describes the fault.
func (f *Fault) Error() string {
	var b strings.Builder
	b.WriteString("IPS ")
	b.WriteString(f.Kind.String())
	b.WriteString(" fault")
	if f.Code != 0 {
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(f.Code))
	}
	if f.Reason != "" {
		b.WriteString(": ")
		b.WriteString(f.Reason)
	}
	if f.FaultCode != "" || f.FaultString != "" {
		fmt.Fprintf(&b, " (faultcode %q, faultstring %q)", f.FaultCode, f.FaultString)
	}
	if f.HTTPStatus != 0 {
		fmt.Fprintf(&b, " [HTTP %d]", f.HTTPStatus)
	}
	return b.String()
}

// Retryable reports whether a later identical call may succeed: only the
// generic IPS exception (api fault 30000) is.
func (f *Fault) Retryable() bool { return f.Kind == FaultAPI && f.Code == 30000 }

// TransportError is a failure below SOAP: the request could not be sent, the
// response could not be read in full, or the server answered an HTTP error
// whose body is not a SOAP fault (a gateway's HTML page, an empty 502, a 429).
type TransportError struct {
	// Op is the IPS operation, e.g. "getAssetJobLogs".
	Op string
	// StatusCode is the HTTP status; 0 when no response arrived.
	StatusCode int
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Body is the start of the response body (about 200 bytes), to
	// identify gateway pages.
	Body string
	// Err is the network or read error, nil for an HTTP error status.
	Err error
}

// Error describes the failure. It does not repeat Op: the Client's errors
// already start with the operation.
func (e *TransportError) Error() string {
	var b strings.Builder
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	} else {
		b.WriteString("transport")
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Body != "" {
		fmt.Fprintf(&b, ": body %q", e.Body)
	}
	return b.String()
}

// Unwrap returns Err.
func (e *TransportError) Unwrap() error { return e.Err }

// Retryable reports whether a later identical call may succeed: network and
// read failures, 408, 429 and 5xx are.
func (e *TransportError) Retryable() bool {
	if e.Err != nil {
		return !certificateError(e.Err)
	}
	switch {
	case e.StatusCode == http.StatusRequestTimeout, e.StatusCode == http.StatusTooManyRequests:
		return true
	case e.StatusCode >= 500:
		return true
	}
	return false
}

// certificateError reports whether err is a TLS certificate verification
// failure, which a new connection would meet again.
func certificateError(err error) bool {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verify)
}

// IsRetryable reports whether err, returned by a Client, may not recur on a
// later identical call:
//
//   - network errors, timeouts of the HTTP client, bodies cut short
//     (unexpected EOF, connection reset while reading, a document that ends
//     before its envelope closes), HTTP 408, 429 and 5xx without a SOAP
//     fault, and the generic IPS api fault 30000 are retryable;
//   - authentication and authorization faults, api faults 30001-30003 and
//     unknown faults, ErrResponseTooLarge, malformed XML that was received
//     in full, other HTTP 4xx, TLS certificate verification failures, and
//     the cancellation or deadline of the caller's context are not.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	var f *Fault
	if errors.As(err, &f) {
		return f.Retryable()
	}
	if errors.Is(err, ErrResponseTooLarge) {
		return false
	}
	var te *TransportError
	if errors.As(err, &te) {
		return te.Retryable()
	}
	var me *malformedError
	if errors.As(err, &me) {
		return me.truncated
	}
	return false
}

// RetryAfter returns the Retry-After the server sent with a TransportError
// in err's chain, and whether there was one.
func RetryAfter(err error) (time.Duration, bool) {
	var te *TransportError
	if errors.As(err, &te) && te.RetryAfter > 0 {
		return te.RetryAfter, true
	}
	return 0, false
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP-date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d.Round(time.Second)
		}
	}
	return 0
}

// snippet returns the start of a body, at most n bytes, as printable UTF-8.
func snippet(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
		// Drop a rune cut in half by the limit.
		for i := 0; i < utf8.UTFMax-1 && len(b) > 0 && !utf8.FullRune(b[lastRuneStart(b):]); i++ {
			b = b[:len(b)-1]
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' {
			return ' '
		}
		return r
	}, strings.TrimSpace(s))
}

// isContextErr reports whether err is the caller's context ending.
func isContextErr(ctx context.Context, err error) bool {
	return ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ctx.Err()))
}

// lastRuneStart returns the index where the last (possibly partial) rune of
// b starts.
func lastRuneStart(b []byte) int {
	i := len(b) - 1
	for i > 0 && len(b)-i < utf8.UTFMax && !utf8.RuneStart(b[i]) {
		i--
	}
	return i
}
