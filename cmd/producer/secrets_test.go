package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/assetjoblog/assetjoblog/internal/ips/ipstest"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
)

const (
	testAccessToken  = "tok-9fQ2xLr-never-printed"
	testSASLPassword = "sasl-Kp4#never-printed"
	testRegistryPass = "reg-Hw7$never-printed"
	testEmailKey     = "email-key-Vb3%never-printed"
)

// leakCheck collects everything the producer emitted and fails the test if
// any secret appears in it, raw or in the encodings a header would carry.
type leakCheck struct {
	t       *testing.T
	secrets map[string]string // form -> name
}

func newLeakCheck(t *testing.T) *leakCheck {
	l := &leakCheck{t: t, secrets: map[string]string{}}
	for name, s := range map[string]string{
		"IPS password": testPassword, "IPS access token": testAccessToken, "SASL password": testSASLPassword,
		"registry password": testRegistryPass, "user-email key": testEmailKey,
	} {
		l.secrets[s] = name
		l.secrets[base64.StdEncoding.EncodeToString([]byte(s))] = name + " (base64)"
	}
	for _, userPass := range []string{"reg-user:" + testRegistryPass, testUser + ":" + testPassword, "producer:" + testSASLPassword} {
		l.secrets[base64.StdEncoding.EncodeToString([]byte(userPass))] = "basic auth of " + strings.SplitN(userPass, ":", 2)[0]
	}
	return l
}

func (l *leakCheck) check(where, text string) {
	l.t.Helper()
	for form, name := range l.secrets {
		if i := strings.Index(text, form); i >= 0 {
			lo, hi := max(0, i-120), min(len(text), i+len(form)+40)
			l.t.Errorf("%s leaks the %s: …%s…", where, name, text[lo:hi])
		}
	}
}

func (l *leakCheck) result(where string, r result) {
	l.t.Helper()
	l.check(where+" stdout", r.stdout)
	l.check(where+" stderr", r.stderr)
	if r.err != nil {
		_, line := oneLine(r.err)
		l.check(where+" exit line", line)
		l.check(where+" error %+v", fmt.Sprintf("%+v %#v", r.err, r.err))
	}
}

// allSecretsEnv is an environment holding every secret the producer reads.
func allSecretsEnv(extra ...string) func(string) string {
	m := map[string]string{
		envIPSPassword: testPassword, envSASLPassword: testSASLPassword,
		envRegistryPassword: testRegistryPass, envUserEmailKey: testEmailKey,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return func(k string) string { return m[k] }
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("HTTP %d\n%s", resp.StatusCode, b)
}

// TestSecretsNeverLeak runs the producer at debug level through a good
// round, a round of retried faults whose text echoes the password, a wrong
// password, an access token, a broker that rejects SASL, a registry that
// rejects (and echoes) its credentials, a bad configuration and -h, and
// scrapes /metrics, /readyz and /healthz: no secret appears anywhere.
func TestSecretsNeverLeak(t *testing.T) {
	t.Run("no flag takes a secret", func(t *testing.T) {
		newFlagSet(&config{}, io.Discard).VisitAll(func(f *flag.Flag) {
			name := strings.ToLower(f.Name)
			for _, word := range []string{"password", "token", "secret", "key"} {
				if strings.Contains(name, word) && !strings.HasSuffix(name, "-file") && !strings.HasSuffix(name, "-verify") {
					t.Errorf("flag -%s takes a secret on the command line (visible in ps)", f.Name)
				}
			}
		})
	})

	t.Run("good and retried rounds, metrics and probes", func(t *testing.T) {
		s := newStack(t, 4, 3)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var stdout, stderr syncBuffer
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, s.args("-poll-interval", "100ms", "-metrics-addr", "127.0.0.1:0", "-user-email", "hash"),
				allSecretsEnv(), &stdout, &stderr)
		}()
		waitLog(t, &stderr, `"msg":"round done"`, 1, 30*time.Second)
		addr := metricsAddr(t, stderr.String())
		var scraped []string
		scraped = append(scraped, httpGet(t, addr+"/metrics"), httpGet(t, addr+"/readyz"), httpGet(t, addr+"/healthz"))

		// IPS echoes the password in its fault text; the producer retries.
		s.sim.Inject(ipstest.Fault{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultSOAP, Code: 30000,
			Reason: "java.lang.Exception: login " + testUser + " password=" + testPassword, Times: 3})
		s.sim.Inject(ipstest.Fault{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultUnavailable, Times: 2})
		s.sim.AddActivity([]int{0, 1}, 1)
		waitLog(t, &stderr, `"msg":"retrying"`, 3, 30*time.Second)
		s.topic(t, len(s.expected(t)))
		scraped = append(scraped, httpGet(t, addr+"/metrics"), httpGet(t, addr+"/readyz"))
		cancel()
		err := <-done
		newLeakCheck(t).result("continuous run", result{stdout: stdout.String(), stderr: stderr.String(), err: err})
		for _, body := range scraped {
			newLeakCheck(t).check("metrics endpoint", body)
		}
		if !strings.Contains(scraped[0], "go_goroutines") {
			t.Errorf("/metrics did not answer with metrics:\n%.300s", scraped[0])
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		s := newStack(t, 2, 1)
		r := runProducer(t.Context(), s.args("-once"), allSecretsEnv(envIPSPassword, "wrong-"+testPassword))
		if r.err == nil {
			t.Fatal("a wrong password was accepted")
		}
		newLeakCheck(t).result("wrong password", r)
	})

	t.Run("access token echoed by IPS", func(t *testing.T) {
		s := newStack(t, 2, 1, ipstest.WithAccessToken(testAccessToken))
		s.sim.Inject(ipstest.Fault{Op: ipstest.OpGetAssetJobLogs, Kind: ipstest.FaultSOAP, Code: 30001,
			Reason: "bad token " + testAccessToken, Times: 1})
		r := runProducer(t.Context(), s.args("-once", "-concurrency", "1"), allSecretsEnv(envIPSPassword, "", envIPSAccessToken, testAccessToken))
		if r.err == nil || !strings.Contains(r.err.Error(), "30001") {
			t.Fatalf("got %v, want the 30001 fault", r)
		}
		newLeakCheck(t).result("access token", r)
	})

	t.Run("broker rejects SASL", func(t *testing.T) {
		s := newStack(t, 2, 1)
		s.brokers, s.cluster = kafkatest.NewCluster(t, testTopic, 1, kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "admin-pw"))
		for _, mech := range []string{"PLAIN", "SCRAM-SHA-256"} {
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			r := runProducer(ctx, s.args("-once", "-kafka-sasl-mechanism", mech, "-kafka-sasl-user", "producer"), allSecretsEnv())
			cancel()
			if r.err == nil {
				t.Fatalf("%s: the broker accepted a wrong SASL password", mech)
			}
			t.Logf("%s: %v", mech, r.err)
			newLeakCheck(t).result("SASL "+mech, r)
		}
	})

	t.Run("registry rejects and echoes credentials", func(t *testing.T) {
		reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			user, pass, _ := r.BasicAuth()
			w.Header().Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"error_code": 401,
				"message": "Unauthorized: " + r.Header.Get("Authorization") + " user " + user + " password " + pass})
		}))
		defer reg.Close()
		s := newStack(t, 2, 1)
		r := runProducer(t.Context(), s.args("-once", "-schema-registry", reg.URL, "-schema-registry-user", "reg-user"), allSecretsEnv())
		if r.err == nil {
			t.Fatal("a rejected registry login was accepted")
		}
		newLeakCheck(t).result("registry", r)
	})

	t.Run("bad configuration and -h", func(t *testing.T) {
		s := newStack(t, 1, 1)
		r := runProducer(t.Context(), append(s.args("-once"), "-concurrency", "0"), allSecretsEnv())
		if r.err == nil {
			t.Fatal("-concurrency 0 accepted")
		}
		newLeakCheck(t).result("bad configuration", r)
		r = runProducer(t.Context(), []string{"-h"}, allSecretsEnv())
		if !strings.Contains(r.stderr, envIPSPassword) {
			t.Errorf("-h does not name %s:\n%.300s", envIPSPassword, r.stderr)
		}
		newLeakCheck(t).result("-h", r)
	})
}

// metricsAddr finds the metrics base URL the producer logged.
func metricsAddr(t *testing.T, log string) string {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving metrics" {
			return strings.TrimSuffix(rec.Addr, "/metrics")
		}
	}
	t.Fatalf("no \"serving metrics\" line in the log:\n%s", tail(log, 20))
	return ""
}

// TestUserEmailModes publishes the same entries with -user-email keep, hash
// and drop: the records carry the e-mail, its HMAC-SHA-256 under the key,
// or nothing, and the eventIds are the same in all three.
func TestUserEmailModes(t *testing.T) {
	s := newStack(t, 5, 4)
	want := s.expected(t)
	emails := 0
	for _, w := range want {
		if w.SubmitUserEmail != "" {
			emails++
		}
	}
	if emails == 0 {
		t.Fatal("the simulator's entries carry no e-mail: nothing to test")
	}
	mac := func(email string) string {
		m := hmac.New(sha256.New, []byte(testEmailKey))
		m.Write([]byte(email))
		return "hmac-sha256:" + hex.EncodeToString(m.Sum(nil))
	}
	ids := map[string][]string{}
	for _, mode := range []string{"keep", "hash", "drop"} {
		topic := "emails-" + mode
		state := s.state + "." + mode
		r := runProducer(t.Context(), s.args("-once", "-user-email", mode, "-topic", topic, "-create-topic", "-state", state),
			allSecretsEnv())
		if r.err != nil {
			t.Fatalf("-user-email %s: %v", mode, r)
		}
		got := readTopic(t, s.brokers, topic, len(want))
		if len(got) != len(want) {
			t.Fatalf("-user-email %s: %d records, want %d", mode, len(got), len(want))
		}
		for _, e := range got {
			w, ok := want[e.EventID]
			if !ok {
				t.Errorf("-user-email %s: unexpected eventId %s", mode, e.EventID)
				continue
			}
			ids[mode] = append(ids[mode], e.EventID)
			var wantEmail string
			switch {
			case mode == "keep":
				wantEmail = w.SubmitUserEmail
			case mode == "hash" && w.SubmitUserEmail != "":
				wantEmail = mac(w.SubmitUserEmail)
			}
			if e.SubmitUserEmail != wantEmail {
				t.Errorf("-user-email %s, entry %s: submitUserEmail %q, want %q", mode, e.EventID, e.SubmitUserEmail, wantEmail)
			}
		}
		if mode != "keep" {
			newLeakCheck(t).result("-user-email "+mode, r)
		}
	}
	for _, mode := range []string{"hash", "drop"} {
		slices.Sort(ids["keep"])
		slices.Sort(ids[mode])
		a, b := strings.Join(ids["keep"], ","), strings.Join(ids[mode], ",")
		if a != b {
			t.Errorf("eventIds differ between -user-email keep and %s", mode)
		}
	}
}

// TestIPSTLSVerification puts IPS behind TLS with a self-signed
// certificate: by default the producer stops at once with one line naming
// the certificate problem; with -ips-ca-file of that certificate, or with
// -ips-insecure-skip-verify (which logs a warning), it publishes.
func TestIPSTLSVerification(t *testing.T) {
	s := newStack(t, 3, 2)
	target, err := url.Parse(s.sim.URL())
	if err != nil {
		t.Fatal(err)
	}
	target.Path = ""
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(front.Close)
	ipsURL := front.URL + ipstest.Path
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("self-signed certificate stops the producer", func(t *testing.T) {
		// The production retry budget: a certificate error must not be
		// retried for five minutes. The deadline only detects that.
		ctx, cancel := context.WithTimeout(t.Context(), 6*time.Second)
		defer cancel()
		r := runProducer(ctx, s.args("-once", "-ips-url", ipsURL, "-ips-retry-max", "5m", "-shutdown-timeout", "200ms"), s.env())
		if ctx.Err() != nil {
			t.Fatalf("still retrying an untrusted certificate after 6s: %v", r.err)
		}
		code, line := oneLine(r.err)
		if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, "certificate") {
			t.Errorf("got exit %d, %q; want exit 1 and one line naming the certificate problem", code, line)
		}
		if msgs, err := kafkatest.Read(t.Context(), s.brokers, testTopic, 0); err != nil || len(msgs) != 0 {
			t.Errorf("records: got %d (%v), want 0", len(msgs), err)
		}
	})

	t.Run("-ips-ca-file trusts it", func(t *testing.T) {
		r := runProducer(t.Context(), s.args("-once", "-ips-url", ipsURL, "-ips-ca-file", caFile), s.env())
		if r.err != nil {
			t.Fatal(r)
		}
		want := s.expected(t)
		checkExactlyOnce(t, s.topic(t, len(want)), want)
	})

	t.Run("-ips-insecure-skip-verify works and warns", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state.db")
		r := runProducer(t.Context(), s.args("-once", "-ips-url", ipsURL, "-ips-insecure-skip-verify", "-state", state,
			"-topic", "tls-insecure", "-create-topic"), s.env())
		if r.err != nil {
			t.Fatal(r)
		}
		if !strings.Contains(r.stderr, `"level":"WARN"`) || !strings.Contains(r.stderr, "verification is off") {
			t.Errorf("no warning about -ips-insecure-skip-verify in:\n%s", tail(r.stderr, 10))
		}
		if got := readTopic(t, s.brokers, "tls-insecure", len(s.expected(t))); len(got) != len(s.expected(t)) {
			t.Errorf("records: got %d, want %d", len(got), len(s.expected(t)))
		}
	})
}
