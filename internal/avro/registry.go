package avro

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/assetjoblog/assetjoblog/schemas"
)

// SubjectStrategy chooses the Schema Registry subject the schema is
// registered under, as Confluent's serializers name them.
type SubjectStrategy int

// Subject strategies.
const (
	// TopicName registers under "<topic>-value" (the default).
	TopicName SubjectStrategy = iota
	// RecordName registers under the record's full name,
	// "com.scene7.ipsapi.AssetJobLog".
	RecordName
	// TopicRecordName registers under "<topic>-com.scene7.ipsapi.AssetJobLog".
	TopicRecordName
)

var strategyNames = [...]string{TopicName: "TopicName", RecordName: "RecordName", TopicRecordName: "TopicRecordName"}

// String returns "TopicName", "RecordName" or "TopicRecordName".
func (s SubjectStrategy) String() string {
	if s >= 0 && int(s) < len(strategyNames) {
		return strategyNames[s]
	}
	return fmt.Sprintf("SubjectStrategy(%d)", int(s))
}

// MarshalText returns the strategy's String.
func (s SubjectStrategy) MarshalText() ([]byte, error) {
	if s < 0 || int(s) >= len(strategyNames) {
		return nil, fmt.Errorf("avro: unknown subject strategy %d", int(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses a strategy name, case-insensitively, with or
// without the "Strategy" suffix Confluent's class names carry
// (TopicNameStrategy); "topic", "record" and "topic-record" are accepted too.
func (s *SubjectStrategy) UnmarshalText(b []byte) error {
	v, err := ParseSubjectStrategy(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSubjectStrategy parses a strategy name; see UnmarshalText.
func ParseSubjectStrategy(name string) (SubjectStrategy, error) {
	n := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), "strategy")
	switch strings.ReplaceAll(strings.ReplaceAll(n, "-", ""), "_", "") {
	case "topicname", "topic", "":
		return TopicName, nil
	case "recordname", "record":
		return RecordName, nil
	case "topicrecordname", "topicrecord":
		return TopicRecordName, nil
	}
	return 0, fmt.Errorf("avro: unknown subject strategy %q (want TopicName, RecordName or TopicRecordName)", name)
}

// Defaults applied to a zero RegistryConfig.
const (
	DefaultRegistryMaxElapsed     = 2 * time.Minute
	DefaultRegistryRequestTimeout = 10 * time.Second
)

// RegistryConfig configures the Confluent Schema Registry used by
// NewConfluentEncoder. Username and Password are secrets of the
// registry: String, GoString and LogValue redact the password and the
// URL's user info, and errors never contain either.
type RegistryConfig struct {
	// URL is the registry's base URL, e.g. "http://localhost:8081" or
	// "https://sr.example.com/prefix". Required. User info in the URL
	// ("https://user:pass@host") is used as credentials when Username is
	// empty and is removed from the URL the client uses and reports.
	URL string
	// Username and Password, when Username is set, are sent with HTTP
	// basic authentication. Default: none.
	Username string
	Password string
	// TLS configures HTTPS (custom roots, client certificates). Default
	// nil: the system roots of Go's default transport.
	TLS *tls.Config
	// SubjectStrategy names the subject. Default TopicName.
	SubjectStrategy SubjectStrategy
	// Topic is the Kafka topic the records go to; required for TopicName
	// and TopicRecordName.
	Topic string
	// MaxElapsed bounds registration, retries included: transient failures
	// (connection errors, timeouts, 408, 429, 5xx) are retried with
	// exponential backoff until it has passed. Default 2m.
	MaxElapsed time.Duration
	// HTTPClient makes the registry requests. Default: an http.Client with
	// a 10s timeout per request over a clone of http.DefaultTransport.
	// When TLS is also set, the client's Transport must be an
	// *http.Transport without custom dialers.
	HTTPClient *http.Client
}

func (c *RegistryConfig) setDefaults() {
	if c.MaxElapsed == 0 {
		c.MaxElapsed = DefaultRegistryMaxElapsed
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{
			Timeout:   DefaultRegistryRequestTimeout,
			Transport: http.DefaultTransport.(*http.Transport).Clone(),
		}
	}
	if u, err := url.Parse(c.URL); err == nil && u.User != nil && c.Username == "" {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
}

// Validate reports the first invalid field of c, after defaults are applied
// as NewConfluentEncoder applies them.
func (c RegistryConfig) Validate() error {
	c.setDefaults()
	if c.URL == "" {
		return errors.New("avro: registry config: URL is required")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("avro: registry config: URL %q is not a URL", redactURL(c.URL))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("avro: registry config: URL %q: want http:// or https:// and a host", redactURL(c.URL))
	}
	if c.Password != "" && c.Username == "" {
		return errors.New("avro: registry config: Password is set without Username")
	}
	if c.SubjectStrategy < TopicName || c.SubjectStrategy > TopicRecordName {
		return fmt.Errorf("avro: registry config: SubjectStrategy %d is unknown", int(c.SubjectStrategy))
	}
	if c.SubjectStrategy != RecordName && c.Topic == "" {
		return fmt.Errorf("avro: registry config: Topic is required with SubjectStrategy %s", c.SubjectStrategy)
	}
	if c.MaxElapsed < 0 {
		return fmt.Errorf("avro: registry config: MaxElapsed %s is negative", c.MaxElapsed)
	}
	return nil
}

// Subject returns the subject the schema is registered under.
func (c RegistryConfig) Subject() string {
	switch c.SubjectStrategy {
	case RecordName:
		return RecordFullName
	case TopicRecordName:
		return c.Topic + "-" + RecordFullName
	default:
		return c.Topic + "-value"
	}
}

// String describes c with the password and URL user info redacted.
func (c RegistryConfig) String() string {
	pw := ""
	if c.Password != "" {
		pw = "[REDACTED]"
	}
	return fmt.Sprintf("RegistryConfig{URL:%s Username:%s Password:%s TLS:%t SubjectStrategy:%s Topic:%s MaxElapsed:%s}",
		redactURL(c.URL), c.Username, pw, c.TLS != nil, c.SubjectStrategy, c.Topic, c.MaxElapsed)
}

// GoString is String, so that %#v redacts too.
func (c RegistryConfig) GoString() string { return c.String() }

// LogValue logs c with the password and URL user info redacted.
func (c RegistryConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("url", redactURL(c.URL)),
		slog.String("username", c.Username),
		slog.Bool("password_set", c.Password != ""),
		slog.Bool("tls", c.TLS != nil),
		slog.String("subject_strategy", c.SubjectStrategy.String()),
		slog.String("topic", c.Topic),
		slog.Duration("max_elapsed", c.MaxElapsed),
	)
}

// redactURL removes user info, query and fragment from a URL, for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		// Do not echo something that may hold credentials.
		if i := strings.LastIndexByte(raw, '@'); i >= 0 {
			return "[REDACTED]@" + raw[i+1:]
		}
		return raw
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// Sentinel errors a RegistryError matches with errors.Is.
var (
	// ErrIncompatibleSchema: the registry answered 409, the schema is
	// incompatible with the subject's registered versions under its
	// compatibility level.
	ErrIncompatibleSchema = errors.New("avro: schema incompatible with the subject's registered versions")
	// ErrInvalidSchema: the registry answered 422, it rejects the schema
	// or the request.
	ErrInvalidSchema = errors.New("avro: schema registry rejected the schema as invalid")
	// ErrRegistryAuth: the registry answered 401 or 403.
	ErrRegistryAuth = errors.New("avro: schema registry refused the credentials")
)

// RegistryError is a failed Schema Registry operation. It wraps the
// registry's *sr.ResponseError or the transport error.
type RegistryError struct {
	// Op is the operation, e.g. "register schema".
	Op string
	// URL is the registry base URL, without user info.
	URL string
	// Subject is the subject the operation was about.
	Subject string
	// StatusCode is the HTTP status, 0 when no response came.
	StatusCode int
	// Code is the registry's error_code, 0 when absent.
	Code int
	// Err is the underlying error.
	Err error

	// scrub removes the credentials from Error's text: a registry or a
	// proxy may echo the request, credentials included, into its error
	// body. A function, not the secrets, so that printing the struct with
	// %+v shows none.
	scrub func(string) string
}

func (e *RegistryError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "avro: schema registry %s: %s under subject %q: ", e.URL, e.Op, e.Subject)
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
		if e.Code != 0 {
			fmt.Fprintf(&b, " (error code %d)", e.Code)
		}
		b.WriteString(": ")
	}
	var re *sr.ResponseError
	if errors.As(e.Err, &re) {
		msg := re.Message
		if msg == "" {
			msg = string(re.Raw)
		}
		if len(msg) > 300 {
			msg = msg[:300] + "..."
		}
		b.WriteString(msg)
	} else if uerr := (*url.Error)(nil); errors.As(e.Err, &uerr) {
		// The URL is already named above.
		b.WriteString(uerr.Err.Error())
	} else {
		b.WriteString(e.Err.Error())
	}
	if e.scrub != nil {
		return e.scrub(b.String())
	}
	return b.String()
}

// Unwrap returns the underlying error.
func (e *RegistryError) Unwrap() error { return e.Err }

// Is matches ErrIncompatibleSchema (409), ErrInvalidSchema (422) and
// ErrRegistryAuth (401, 403).
func (e *RegistryError) Is(target error) bool {
	switch target {
	case ErrIncompatibleSchema:
		return e.StatusCode == http.StatusConflict
	case ErrInvalidSchema:
		return e.StatusCode == http.StatusUnprocessableEntity
	case ErrRegistryAuth:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	}
	return false
}

// IsRetryable reports whether err, from the Schema Registry, may succeed
// when tried again: no response at all (connection refused or reset,
// timeouts), or HTTP 408, 429 or 5xx. Cancellation of the caller's context,
// 4xx answers (incompatible or invalid schema, bad credentials) and other
// errors are not retryable.
func IsRetryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var re *sr.ResponseError
	if errors.As(err, &re) {
		return retryableStatus(re.StatusCode)
	}
	var rerr *RegistryError
	if errors.As(err, &rerr) && rerr.StatusCode != 0 {
		return retryableStatus(rerr.StatusCode)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return true
	}
	var nerr net.Error
	return errors.As(err, &nerr)
}

func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

func newRegistryError(op, baseURL, subject string, err error, scrub func(string) string) *RegistryError {
	e := &RegistryError{Op: op, URL: baseURL, Subject: subject, Err: err, scrub: scrub}
	var re *sr.ResponseError
	if errors.As(err, &re) {
		e.StatusCode = re.StatusCode
		e.Code = re.ErrorCode
	}
	return e
}

// NewConfluentEncoder returns an Encoder that writes the Confluent wire
// format with the schema id the registry at cfg.URL gives the AssetJobLog
// schema under cfg.Subject(): it registers the schema, which returns the
// existing id when the subject already has it. When the registry refuses
// registration with 403 or error code 42205 (read-only mode), it looks the
// schema up in the subject instead, so a pre-registered schema works with
// read-only credentials.
//
// Transient failures are retried with exponential backoff until ctx is done
// or cfg.MaxElapsed has passed, after which the last error is returned with
// the number of attempts. Answers that cannot change (409 incompatible, 422
// invalid, 401/403) fail at once with a *RegistryError that matches
// ErrIncompatibleSchema, ErrInvalidSchema or ErrRegistryAuth. Errors name
// the subject and the registry URL, never the credentials.
func NewConfluentEncoder(ctx context.Context, cfg RegistryConfig) (*Encoder, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	baseURL := redactURL(cfg.URL)
	u, _ := url.Parse(cfg.URL) // Validate parsed it
	u.User = nil
	opts := []sr.ClientOpt{
		sr.URLs(u.String()),
		sr.HTTPClient(cfg.HTTPClient),
		sr.UserAgent("assetjoblog"),
	}
	if cfg.Username != "" {
		opts = append(opts, sr.BasicAuth(cfg.Username, cfg.Password))
	}
	if cfg.TLS != nil {
		opts = append(opts, sr.DialTLSConfig(cfg.TLS))
	}
	cl, err := sr.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("avro: schema registry %s: new client: %w", baseURL, err)
	}

	subject := cfg.Subject()
	schema := sr.Schema{Schema: schemas.AssetJobLog, Type: sr.TypeAvro}
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.MaxElapsed)
	defer cancel()

	var secrets func(string) string
	if cfg.Password != "" {
		r := strings.NewReplacer(
			base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password)), "[REDACTED]",
			cfg.Password, "[REDACTED]")
		secrets = r.Replace
	}
	attempts := 0
	start := time.Now()
	register := func() (int, error) {
		attempts++
		id, err := cl.RegisterSchema(ctx, subject, schema, -1, -1)
		if err == nil {
			return id, nil
		}
		rerr := newRegistryError("register schema", baseURL, subject, err, secrets)
		if rerr.StatusCode == http.StatusForbidden || rerr.Code == sr.ErrOperationNotPermitted.Code {
			ss, lerr := cl.LookupSchema(ctx, subject, schema)
			if lerr == nil {
				return ss.ID, nil
			}
			lookup := newRegistryError("look up schema", baseURL, subject, lerr, secrets)
			if IsRetryable(lookup) {
				return 0, lookup
			}
		}
		if ctx.Err() == nil && IsRetryable(rerr) {
			return 0, rerr
		}
		return 0, backoff.Permanent(rerr)
	}
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(200*time.Millisecond),
		backoff.WithMaxInterval(10*time.Second),
		backoff.WithMaxElapsedTime(cfg.MaxElapsed),
	)
	var last error
	id, err := backoff.RetryNotifyWithData(register, backoff.WithContext(b, ctx), func(err error, _ time.Duration) { last = err })
	if err != nil {
		var rerr *RegistryError
		if !errors.As(err, &rerr) && last != nil {
			// The context ended between attempts: report the last failure.
			err = fmt.Errorf("%w (last error: %w)", err, last)
		}
		elapsed := time.Since(start).Round(time.Millisecond)
		if cerr := parent.Err(); cerr != nil {
			if !errors.Is(err, cerr) {
				err = fmt.Errorf("%w (%w)", err, cerr)
			}
			return nil, fmt.Errorf("%w (stopped after %d attempt(s) in %s)", err, attempts, elapsed)
		}
		if attempts > 1 || IsRetryable(err) {
			return nil, fmt.Errorf("%w (gave up after %d attempt(s) in %s)", err, attempts, elapsed)
		}
		return nil, err
	}
	return newConfluentEncoder(id, subject)
}
