package ips

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// Operation names, as sent in SOAPAction and passed to Config.Observer.
const (
	OpGetAssetJobLogs  = "getAssetJobLogs"
	OpGetJobLogs       = "getJobLogs"
	OpGetJobLogDetails = "getJobLogDetails"
)

// maxDetailPages bounds JobAssets' paging against a server that never
// reports the end.
const maxDetailPages = 10_000

// Client calls the IPS SOAP web service. It is safe for concurrent use. It
// does not retry and does not log.
type Client struct {
	cfg      Config
	endpoint string
	header   []byte // rendered authHeader; holds the secret
	secrets  []string
}

var (
	_ pipeline.Source    = (*Client)(nil)
	_ pipeline.JobSource = (*Client)(nil)
)

// New returns a Client for cfg after applying the defaults and validating
// it. It makes no network call.
func New(cfg Config) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, endpoint: cfg.endpoint(), header: authHeader(cfg)}
	for _, s := range []string{cfg.Password, cfg.AccessToken} {
		if s != "" {
			c.secrets = append(c.secrets, s)
		}
	}
	return c, nil
}

// String describes the client without its credentials.
func (c *Client) String() string {
	return fmt.Sprintf("ips.Client{endpoint:%q user:%q apiVersion:%q}", c.endpoint, c.cfg.User, c.cfg.APIVersion)
}

// GoString serves %#v without the credentials.
func (c *Client) GoString() string { return c.String() }

// AssetJobLogs returns the whole job log of one asset (getAssetJobLogs), in
// the order IPS sent it, with CompanyHandle and AssetHandle filled in and
// EventID and ObservedAt left zero. An asset without entries gives an empty,
// non-nil slice. Entries that do not decode in an otherwise well-formed
// response come back as BadEntry values (see DecodeAssetJobLogs).
func (c *Client) AssetJobLogs(ctx context.Context, companyHandle, assetHandle string) ([]pipeline.AssetJobLog, []pipeline.BadEntry, error) {
	desc := fmt.Sprintf("%s of asset %q (company %q)", OpGetAssetJobLogs, assetHandle, companyHandle)
	var (
		out []pipeline.AssetJobLog
		bad []pipeline.BadEntry
	)
	err := c.call(ctx, OpGetAssetJobLogs, desc, c.assetJobLogsRequest(companyHandle, assetHandle), func(d *decoder) error {
		var err error
		out, bad, err = d.assetJobLogs(companyHandle, assetHandle)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	for i := range bad {
		// The raw entry may hold what a server echoed back; its id stays
		// the hash of what IPS sent.
		bad[i].Reason = c.scrub(bad[i].Reason)
		bad[i].Raw = c.scrubRaw(bad[i].Raw)
	}
	return out, bad, nil
}

// JobLogs returns at most numRows jobs of the company whose start date lies
// in [start, end] (getJobLogs, sorted by start date ascending). A zero start
// or end, or numRows <= 0, leaves that bound to IPS.
func (c *Client) JobLogs(ctx context.Context, companyHandle string, start, end time.Time, numRows int) ([]pipeline.Job, error) {
	desc := fmt.Sprintf("%s of company %q", OpGetJobLogs, companyHandle)
	var out []pipeline.Job
	err := c.call(ctx, OpGetJobLogs, desc, c.jobLogsRequest(companyHandle, start, end, numRows), func(d *decoder) error {
		var err error
		out, err = d.jobLogs()
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// JobLogDetails returns one page of a job's per-file rows
// (getJobLogDetails; page counts from 1, perPage is 1 to 1000) and the total
// number of rows IPS reports for the job (0 when it reports none).
func (c *Client) JobLogDetails(ctx context.Context, companyHandle, jobHandle string, page, perPage int) ([]JobLogDetailRow, int, error) {
	desc := fmt.Sprintf("%s of job %q (company %q) page %d", OpGetJobLogDetails, jobHandle, companyHandle, page)
	if page < 1 || perPage < 1 || perPage > MaxDetailPageSize {
		return nil, 0, fmt.Errorf("%s: page must be >= 1 and perPage 1 to %d, got page %d perPage %d", desc, MaxDetailPageSize, page, perPage)
	}
	var (
		rows  []JobLogDetailRow
		total int
	)
	err := c.call(ctx, OpGetJobLogDetails, desc, c.jobLogDetailsRequest(companyHandle, jobHandle, page, perPage), func(d *decoder) error {
		var err error
		rows, total, err = d.jobLogDetails()
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return rows, total, nil
}

// JobAssets returns the distinct asset handles a job touched, in first-seen
// order: JobAssetsFrom from the first row.
func (c *Client) JobAssets(ctx context.Context, companyHandle, jobHandle string) ([]string, error) {
	out, _, err := c.JobAssetsFrom(ctx, companyHandle, jobHandle, 0)
	return out, err
}

// JobAssetsFrom returns the distinct asset handles of a job's detail rows
// from row from on (rows sorted by date ascending, counted from 0), in
// first-seen order, and next, the number of rows read through: the from
// of the next call, to read only the rows added since. It pages through
// getJobLogDetails with Config.DetailPageSize rows a page, starting at the
// page that holds row from, until detailTotalRows rows were read, a page
// comes back empty, or (when IPS reports no total) a page comes back short.
func (c *Client) JobAssetsFrom(ctx context.Context, companyHandle, jobHandle string, from int) (assets []string, next int, err error) {
	if from < 0 {
		from = 0
	}
	perPage := c.cfg.DetailPageSize
	seen := make(map[string]struct{})
	out := []string{}
	first := from/perPage + 1
	read := (first - 1) * perPage // rows before the current page
	for page := first; page < first+maxDetailPages; page++ {
		rows, total, err := c.JobLogDetails(ctx, companyHandle, jobHandle, page, perPage)
		if err != nil {
			return nil, 0, err
		}
		for i, r := range rows {
			if read+i < from || r.AssetHandle == "" {
				continue
			}
			if _, dup := seen[r.AssetHandle]; !dup {
				seen[r.AssetHandle] = struct{}{}
				out = append(out, r.AssetHandle)
			}
		}
		read += len(rows)
		switch {
		case len(rows) == 0:
			return out, max(read, from), nil
		case total > 0 && read >= total:
			return out, read, nil
		case total <= 0 && len(rows) < perPage:
			return out, read, nil
		}
	}
	return nil, 0, fmt.Errorf("%s of job %q (company %q): %w", OpGetJobLogDetails, jobHandle, companyHandle,
		malformed("more than %d pages of details; IPS never reported the last page", maxDetailPages))
}

// call posts one request and decodes the response with decode, then tells
// the Observer. Every error it returns starts with desc.
func (c *Client) call(ctx context.Context, op, desc string, body []byte, decode func(*decoder) error) error {
	start := time.Now()
	err := c.roundTrip(ctx, op, body, decode)
	if err != nil {
		c.scrubError(err)
		err = &callError{desc: desc, msg: c.scrub(err.Error()), err: err}
	}
	if c.cfg.Observer != nil {
		c.cfg.Observer(op, time.Since(start), err)
	}
	return err
}

// callError prefixes an error with the call's description. Its message is
// computed once, with any credential scrubbed out of what the server sent
// back.
type callError struct {
	desc string
	msg  string
	err  error
}

func (e *callError) Error() string { return e.desc + ": " + e.msg }
func (e *callError) Unwrap() error { return e.err }

// scrubError removes the client's secrets from the server-sent fields of
// the typed errors in err's chain, in case the server echoed them.
func (c *Client) scrubError(err error) {
	if len(c.secrets) == 0 {
		return
	}
	var f *Fault
	if errors.As(err, &f) {
		f.Reason, f.FaultString, f.FaultCode = c.scrub(f.Reason), c.scrub(f.FaultString), c.scrub(f.FaultCode)
	}
	var te *TransportError
	if errors.As(err, &te) {
		te.Body = c.scrub(te.Body)
	}
	var me *malformedError
	if errors.As(err, &me) {
		me.msg = c.scrub(me.msg)
	}
}

// scrubRaw removes the client's secrets, as they are and XML-escaped, from
// raw bytes a server sent.
func (c *Client) scrubRaw(raw []byte) []byte {
	for _, secret := range c.secrets {
		var esc strings.Builder
		_ = xml.EscapeText(&esc, []byte(secret))
		for _, s := range []string{secret, esc.String(), escapeAll(secret)} {
			raw = bytes.ReplaceAll(raw, []byte(s), []byte(redacted))
		}
	}
	return raw
}

// escapeAll escapes the five XML special characters, apostrophe and quote
// included, as a server may.
func escapeAll(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

// scrub removes the client's secrets from a message built from server data.
func (c *Client) scrub(s string) string {
	for _, secret := range c.secrets {
		s = strings.ReplaceAll(s, secret, redacted)
	}
	return s
}

func (c *Client) roundTrip(ctx context.Context, op string, body []byte, decode func(*decoder) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "text/xml; charset=UTF-8")
	req.Header.Set("SOAPAction", op)
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", c.cfg.AppName+"/"+c.cfg.AppVersion)

	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		if isContextErr(ctx, err) {
			return ctx.Err()
		}
		return &TransportError{Op: op, Err: err}
	}
	defer resp.Body.Close()

	body2, closeBody, err := c.responseBody(resp)
	if err != nil {
		return c.readFailure(ctx, op, resp, err)
	}
	defer closeBody()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return c.errorResponse(ctx, op, resp, body2)
	}
	d := decoder{s: newScanner(body2)}
	err = decode(&d)
	var f *Fault
	if errors.As(err, &f) {
		f.HTTPStatus = resp.StatusCode
		return f
	}
	if err != nil {
		var me *malformedError
		if errors.As(err, &me) {
			return err
		}
		return c.readFailure(ctx, op, resp, err)
	}
	return nil
}

// responseBody returns the response body, gzip-decoded when the server
// says so (or when it starts with the gzip magic), and bounded to
// MaxResponseBytes after decoding.
func (c *Client) responseBody(resp *http.Response) (io.Reader, func(), error) {
	br := bufio.NewReaderSize(resp.Body, 32<<10)
	enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding")))
	var r io.Reader = br
	closeFn := func() {}
	gz := enc == "gzip" || enc == "x-gzip"
	if !gz && (enc == "" || enc == "identity") {
		if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
			gz = true
		}
	} else if !gz {
		return nil, closeFn, malformed("unsupported Content-Encoding %q", enc)
	}
	if gz {
		zr, err := gzip.NewReader(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, closeFn, err
		}
		closeFn = func() { zr.Close() }
		r = bufio.NewReaderSize(zr, 32<<10)
	}
	return &limitReader{r: r, n: c.cfg.MaxResponseBytes, limit: c.cfg.MaxResponseBytes}, closeFn, nil
}

// readFailure types an error met while reading the body.
func (c *Client) readFailure(ctx context.Context, op string, resp *http.Response, err error) error {
	if isContextErr(ctx, err) {
		return ctx.Err()
	}
	if errors.Is(err, ErrResponseTooLarge) {
		return err
	}
	var me *malformedError
	if errors.As(err, &me) {
		return err
	}
	// Corrupt gzip data that arrived in full is the server's bug, not the
	// network's; a gzip stream cut short stays a retryable read failure.
	var corrupt flate.CorruptInputError
	if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) || errors.As(err, &corrupt) {
		return malformed("corrupt gzip body: %v", err)
	}
	return &TransportError{Op: op, StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Err: err}
}

// errorResponse handles a non-2xx response: a SOAP fault becomes a *Fault,
// anything else a *TransportError with the start of the body.
func (c *Client) errorResponse(ctx context.Context, op string, resp *http.Response, body io.Reader) error {
	data, err := io.ReadAll(body)
	if err != nil && !errors.Is(err, ErrResponseTooLarge) {
		return c.readFailure(ctx, op, resp, err)
	}
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if err == nil && len(bytes.TrimSpace(data)) > 0 {
		d := decoder{s: newScanner(bytes.NewReader(data))}
		var f *Fault
		if ferr := d.body("\x00"); errors.As(ferr, &f) {
			f.HTTPStatus = resp.StatusCode
			return f
		}
	}
	return &TransportError{Op: op, StatusCode: resp.StatusCode, RetryAfter: retryAfter, Body: snippet(data, 200)}
}

// limitReader returns ErrResponseTooLarge once more than limit bytes are
// read.
type limitReader struct {
	r     io.Reader
	n     int64 // bytes left
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// Probe for one more byte: a body of exactly limit bytes is fine.
		var one [1]byte
		n, err := l.r.Read(one[:])
		if n > 0 {
			return 0, &tooLargeError{limit: l.limit}
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
