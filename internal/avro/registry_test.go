package avro_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"github.com/twmb/franz-go/pkg/sr/srfake"

	"github.com/assetjoblog/assetjoblog/internal/avro"
	"github.com/assetjoblog/assetjoblog/schemas"
)

const testTopic = "scene7.assetjoblog"

// countingRegistry serves a fake Schema Registry behind a handler that counts
// requests and can fail them before they reach the registry.
type countingRegistry struct {
	reg      *srfake.Registry
	srv      *httptest.Server
	requests atomic.Int64
	// fail, when set, answers a request instead of the registry.
	fail func(n int64, w http.ResponseWriter, r *http.Request) bool
}

func newCountingRegistry(t *testing.T, opts ...srfake.Option) *countingRegistry {
	t.Helper()
	c := &countingRegistry{reg: srfake.NewRegistry(opts...)}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := c.requests.Add(1)
		if c.fail != nil && c.fail(n, w, r) {
			return
		}
		c.reg.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func writeRegistryError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": msg})
}

func isRegister(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/versions")
}

func TestNewConfluentEncoderRegistersUnderEachSubjectStrategy(t *testing.T) {
	for _, tc := range []struct {
		strategy avro.SubjectStrategy
		topic    string
		subject  string
	}{
		{avro.TopicName, testTopic, testTopic + "-value"},
		{avro.RecordName, "", "com.scene7.ipsapi.AssetJobLog"},
		{avro.TopicRecordName, testTopic, testTopic + "-com.scene7.ipsapi.AssetJobLog"},
	} {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			reg := srfake.New()
			defer reg.Close()
			enc, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{
				URL: reg.URL(), Topic: tc.topic, SubjectStrategy: tc.strategy,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := enc.Subject(); got != tc.subject {
				t.Errorf("Subject() = %q, want %q", got, tc.subject)
			}
			ss, ok := reg.GetSchema(tc.subject, 1)
			if !ok {
				t.Fatalf("registry has no version 1 under %q", tc.subject)
			}
			if ss.ID != enc.SchemaID() || ss.ID <= 0 {
				t.Errorf("SchemaID() = %d, registry id %d", enc.SchemaID(), ss.ID)
			}
			if ss.Schema.Schema != schemas.AssetJobLog {
				t.Errorf("registered schema differs from schemas.AssetJobLog")
			}
			if got, want := enc.ContentType(), avro.ContentTypeConfluent; got != want {
				t.Errorf("ContentType() = %q, want %q", got, want)
			}

			b, err := enc.Encode(nil, typicalEntry())
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != 0 || int(binary.BigEndian.Uint32(b[1:5])) != ss.ID {
				t.Errorf("header % x, want 00 and id %d big-endian", b[:5], ss.ID)
			}
			f, err := avro.ParseFrame(b)
			if err != nil || f.Framing != avro.FramingConfluent || f.SchemaID != ss.ID {
				t.Errorf("ParseFrame = %+v, %v", f, err)
			}
		})
	}
}

func TestNewConfluentEncoderReusesTheRegisteredID(t *testing.T) {
	reg := srfake.New()
	defer reg.Close()
	// Another schema first, so that ids are not trivially 1.
	if _, _, err := reg.RegisterSchema("other-value", sr.Schema{Schema: `"string"`}); err != nil {
		t.Fatal(err)
	}
	cfg := avro.RegistryConfig{URL: reg.URL(), Topic: testTopic}
	first, err := avro.NewConfluentEncoder(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	second, err := avro.NewConfluentEncoder(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if first.SchemaID() != second.SchemaID() {
		t.Errorf("second encoder id %d, first %d, want equal", second.SchemaID(), first.SchemaID())
	}
	if _, ok := reg.GetSchema(testTopic+"-value", 2); ok {
		t.Errorf("the second registration created version 2")
	}
}

func TestNewConfluentEncoderSendsBasicAuth(t *testing.T) {
	const user, pass = "producer", "s3cret-Pa55"
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))

	t.Run("fields", func(t *testing.T) {
		reg := srfake.New(srfake.WithAuth(auth))
		defer reg.Close()
		enc, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{
			URL: reg.URL(), Username: user, Password: pass, Topic: testTopic,
		})
		if err != nil {
			t.Fatal(err)
		}
		if enc.SchemaID() <= 0 {
			t.Errorf("SchemaID() = %d", enc.SchemaID())
		}
	})

	t.Run("user info in URL", func(t *testing.T) {
		reg := srfake.New(srfake.WithAuth(auth))
		defer reg.Close()
		u, _ := url.Parse(reg.URL())
		u.User = url.UserPassword(user, pass)
		if _, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{URL: u.String(), Topic: testTopic}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("wrong password fails at once without the secret", func(t *testing.T) {
		c := newCountingRegistry(t, srfake.WithAuth(auth))
		u, _ := url.Parse(c.srv.URL)
		u.User = url.UserPassword(user, "wrong-"+pass)
		_, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{URL: u.String(), Topic: testTopic})
		if !errors.Is(err, avro.ErrRegistryAuth) {
			t.Fatalf("err = %v, want ErrRegistryAuth", err)
		}
		if avro.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = true", err)
		}
		if strings.Contains(err.Error(), pass) {
			t.Errorf("error %q contains the password", err)
		}
		if !strings.Contains(err.Error(), c.srv.URL) || !strings.Contains(err.Error(), testTopic+"-value") {
			t.Errorf("error %q does not name the registry URL and subject", err)
		}
		// One register, one read-only lookup; no retry loop.
		if got := c.requests.Load(); got != 2 {
			t.Errorf("%d requests, want 2", got)
		}
	})
}

func TestNewConfluentEncoderLooksUpWhenRegistrationIsForbidden(t *testing.T) {
	c := newCountingRegistry(t)
	c.reg.SeedSchema(testTopic+"-value", 1, 42, sr.Schema{Schema: schemas.AssetJobLog, Type: sr.TypeAvro})
	c.fail = func(_ int64, w http.ResponseWriter, r *http.Request) bool {
		if isRegister(r) {
			writeRegistryError(w, http.StatusForbidden, 40301, "User is denied operation Write on Subject")
			return true
		}
		return false
	}
	enc, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{URL: c.srv.URL, Topic: testTopic})
	if err != nil {
		t.Fatal(err)
	}
	if got := enc.SchemaID(); got != 42 {
		t.Errorf("SchemaID() = %d, want 42", got)
	}
}

func TestNewConfluentEncoderFailsAtOnceOnPermanentAnswers(t *testing.T) {
	for _, tc := range []struct {
		name           string
		status, code   int
		is             error
		wantRequests   int64
		registryAnswer string
	}{
		{"409 incompatible", http.StatusConflict, 409, avro.ErrIncompatibleSchema, 1, "Schema being registered is incompatible with an earlier schema"},
		{"422 invalid", http.StatusUnprocessableEntity, 42201, avro.ErrInvalidSchema, 1, "Invalid schema"},
		{"401 unauthorized", http.StatusUnauthorized, 40101, avro.ErrRegistryAuth, 1, "Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCountingRegistry(t)
			c.fail = func(_ int64, w http.ResponseWriter, r *http.Request) bool {
				writeRegistryError(w, tc.status, tc.code, tc.registryAnswer)
				return true
			}
			_, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{URL: c.srv.URL, Topic: testTopic})
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
			var rerr *avro.RegistryError
			if !errors.As(err, &rerr) || rerr.StatusCode != tc.status || rerr.Code != tc.code || rerr.Subject != testTopic+"-value" {
				t.Errorf("RegistryError = %+v", rerr)
			}
			var resp *sr.ResponseError
			if !errors.As(err, &resp) {
				t.Errorf("err does not wrap *sr.ResponseError")
			}
			if avro.IsRetryable(err) {
				t.Errorf("IsRetryable = true")
			}
			if !strings.Contains(err.Error(), tc.registryAnswer) {
				t.Errorf("error %q does not carry the registry's message", err)
			}
			if got := c.requests.Load(); got != tc.wantRequests {
				t.Errorf("%d requests, want %d", got, tc.wantRequests)
			}
		})
	}
}

func TestNewConfluentEncoderRetriesTransientAnswers(t *testing.T) {
	for _, status := range []int{http.StatusServiceUnavailable, http.StatusTooManyRequests, http.StatusBadGateway} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			c := newCountingRegistry(t)
			c.fail = func(n int64, w http.ResponseWriter, _ *http.Request) bool {
				if n <= 2 {
					w.WriteHeader(status) // a gateway's empty answer
					return true
				}
				return false
			}
			enc, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{
				URL: c.srv.URL, Topic: testTopic, MaxElapsed: 30 * time.Second,
			})
			if err != nil {
				t.Fatal(err)
			}
			if enc.SchemaID() <= 0 {
				t.Errorf("SchemaID() = %d", enc.SchemaID())
			}
			if got := c.requests.Load(); got != 3 {
				t.Errorf("%d requests, want 3", got)
			}
		})
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// dialCounter counts connection attempts and signals after the n-th.
type dialCounter struct {
	n       atomic.Int64
	after   int64
	reached chan struct{}
	once    sync.Once
}

func (d *dialCounter) client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	dialer := &net.Dialer{}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dialer.DialContext(ctx, network, addr)
		if d.n.Add(1) >= d.after {
			d.once.Do(func() { close(d.reached) })
		}
		return conn, err
	}
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func TestNewConfluentEncoderWaitsForARegistryThatComesUp(t *testing.T) {
	addr := closedAddr(t)
	dc := &dialCounter{after: 2, reached: make(chan struct{})}

	type result struct {
		enc *avro.Encoder
		err error
	}
	done := make(chan result, 1)
	go func() {
		enc, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{
			URL: "http://" + addr, Topic: testTopic, MaxElapsed: time.Minute, HTTPClient: dc.client(),
		})
		done <- result{enc, err}
	}()

	select {
	case <-dc.reached: // two refused connections: the registry is "down at start"
	case r := <-done:
		t.Fatalf("NewConfluentEncoder returned before the registry was up: %v", r.err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("re-listen on %s: %v", addr, err)
	}
	reg := srfake.NewRegistry()
	srv := &http.Server{Handler: reg.Handler()}
	go srv.Serve(l)
	defer srv.Close()

	r := <-done
	if r.err != nil {
		t.Fatalf("NewConfluentEncoder: %v", r.err)
	}
	if ss, ok := reg.GetSchema(testTopic+"-value", 1); !ok || ss.ID != r.enc.SchemaID() {
		t.Errorf("registry has %+v, %v; encoder id %d", ss, ok, r.enc.SchemaID())
	}
}

func TestNewConfluentEncoderGivesUpAfterMaxElapsed(t *testing.T) {
	addr := closedAddr(t)
	_, err := avro.NewConfluentEncoder(context.Background(), avro.RegistryConfig{
		URL: "http://user:hunter2@" + addr, Topic: testTopic, MaxElapsed: 800 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("NewConfluentEncoder succeeded with nothing listening")
	}
	var rerr *avro.RegistryError
	if !errors.As(err, &rerr) {
		t.Fatalf("err = %v, want a *RegistryError", err)
	}
	msg := err.Error()
	for _, want := range []string{"http://" + addr, testTopic + "-value", "gave up after"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not contain %q", msg, want)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Errorf("error %q contains the password", msg)
	}
	if !avro.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = false, want true (the registry was unreachable)", err)
	}
}

func TestNewConfluentEncoderStopsWhenContextIsCanceled(t *testing.T) {
	addr := closedAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	dc := &dialCounter{after: 1, reached: make(chan struct{})}
	go func() { <-dc.reached; cancel() }()
	_, err := avro.NewConfluentEncoder(ctx, avro.RegistryConfig{URL: "http://" + addr, Topic: testTopic, HTTPClient: dc.client()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestRegistryConfigValidateNamesTheBadField(t *testing.T) {
	for _, tc := range []struct {
		cfg  avro.RegistryConfig
		want string
	}{
		{avro.RegistryConfig{Topic: "t"}, "URL is required"},
		{avro.RegistryConfig{URL: "localhost:8081", Topic: "t"}, "URL"},
		{avro.RegistryConfig{URL: "ftp://sr", Topic: "t"}, "URL"},
		{avro.RegistryConfig{URL: "http://sr"}, "Topic is required"},
		{avro.RegistryConfig{URL: "http://sr", SubjectStrategy: avro.TopicRecordName}, "Topic is required"},
		{avro.RegistryConfig{URL: "http://sr", Topic: "t", Password: "p"}, "Password"},
		{avro.RegistryConfig{URL: "http://sr", Topic: "t", SubjectStrategy: 7}, "SubjectStrategy"},
		{avro.RegistryConfig{URL: "http://sr", Topic: "t", MaxElapsed: -time.Second}, "MaxElapsed"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%v) = %v, want an error about %s", tc.cfg, err, tc.want)
		}
		if _, err := avro.NewConfluentEncoder(context.Background(), tc.cfg); err == nil {
			t.Errorf("NewConfluentEncoder(%v) succeeded", tc.cfg)
		}
	}
	if err := (avro.RegistryConfig{URL: "https://sr.example.com/prefix", SubjectStrategy: avro.RecordName}).Validate(); err != nil {
		t.Errorf("RecordName without a topic: %v", err)
	}
}

func TestRegistryConfigRedactsSecrets(t *testing.T) {
	cfg := avro.RegistryConfig{URL: "https://urluser:urlpass@sr.example.com:8081/x?token=qs", Username: "u", Password: "topsecret", Topic: "t"}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("registry", "cfg", cfg)
	for name, s := range map[string]string{
		"String": cfg.String(), "%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg),
		"%#v": fmt.Sprintf("%#v", cfg), "pointer %v": fmt.Sprintf("%v", &cfg), "slog": logged.String(),
	} {
		for _, secret := range []string{"topsecret", "urlpass", "token=qs"} {
			if strings.Contains(s, secret) {
				t.Errorf("%s output %q contains %q", name, s, secret)
			}
		}
		if !strings.Contains(s, "sr.example.com:8081") {
			t.Errorf("%s output %q does not show the host", name, s)
		}
	}
}

func TestParseSubjectStrategy(t *testing.T) {
	for in, want := range map[string]avro.SubjectStrategy{
		"TopicName": avro.TopicName, "topic": avro.TopicName, "TopicNameStrategy": avro.TopicName, "": avro.TopicName,
		"RecordName": avro.RecordName, "record": avro.RecordName,
		"TopicRecordName": avro.TopicRecordName, "topic-record": avro.TopicRecordName, "topic_record_name": avro.TopicRecordName,
	} {
		got, err := avro.ParseSubjectStrategy(in)
		if err != nil || got != want {
			t.Errorf("ParseSubjectStrategy(%q) = %v, %v, want %v", in, got, err, want)
		}
		var s avro.SubjectStrategy
		if err := s.UnmarshalText([]byte(in)); err != nil || s != want {
			t.Errorf("UnmarshalText(%q) = %v, %v", in, s, err)
		}
	}
	if _, err := avro.ParseSubjectStrategy("subject"); err == nil {
		t.Error(`ParseSubjectStrategy("subject") succeeded`)
	}
	if b, err := avro.TopicRecordName.MarshalText(); err != nil || string(b) != "TopicRecordName" {
		t.Errorf("MarshalText = %s, %v", b, err)
	}
}

func TestIsRetryable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("boom"), false},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", &url.Error{Op: "Post", URL: "http://sr", Err: context.Canceled}), false},
		{context.DeadlineExceeded, true},
		{&url.Error{Op: "Post", URL: "http://sr", Err: errors.New("connection refused")}, true},
		{&sr.ResponseError{StatusCode: 503}, true},
		{&sr.ResponseError{StatusCode: 500}, true},
		{&sr.ResponseError{StatusCode: 429}, true},
		{&sr.ResponseError{StatusCode: 408}, true},
		{&sr.ResponseError{StatusCode: 409}, false},
		{&sr.ResponseError{StatusCode: 422}, false},
		{&sr.ResponseError{StatusCode: 404}, false},
		{&avro.RegistryError{StatusCode: 502, Err: errors.New("bad gateway")}, true},
		{&avro.RegistryError{StatusCode: 403, Err: errors.New("forbidden")}, false},
	} {
		if got := avro.IsRetryable(tc.err); got != tc.want {
			t.Errorf("IsRetryable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
