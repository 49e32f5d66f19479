//go:build integration

package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// secureListener is the TLS + SASL listener of the real broker, as
// scripts/kafka.sh env exports it.
type secureListener struct {
	brokers, caFile, user, passwordFile string
}

func realSecureListener(t *testing.T) secureListener {
	t.Helper()
	l := secureListener{
		brokers: os.Getenv("KAFKA_SASL_SSL_BROKERS"), caFile: os.Getenv("KAFKA_CA_FILE"),
		user: os.Getenv("KAFKA_SASL_USER"), passwordFile: os.Getenv("KAFKA_SASL_PASSWORD_FILE"),
	}
	if l.brokers == "" || l.caFile == "" || l.user == "" || l.passwordFile == "" {
		const howTo = "KAFKA_SASL_SSL_BROKERS, KAFKA_CA_FILE, KAFKA_SASL_USER, KAFKA_SASL_PASSWORD_FILE not set: " +
			`run scripts/kafka.sh up and eval "$(scripts/kafka.sh env)"`
		if os.Getenv("CI") != "" {
			t.Fatal(howTo)
		}
		t.Skip(howTo)
	}
	return l
}

// TestIntegrationKafkaTLSAndSASL publishes through the real broker's TLS +
// SASL listener with each SASL mechanism, and checks that a wrong password
// or an untrusted certificate stops the producer with one clear line and
// no secret in any output.
func TestIntegrationKafkaTLSAndSASL(t *testing.T) {
	l := realSecureListener(t)
	password, err := os.ReadFile(l.passwordFile)
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(string(password))

	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			s := newRealStack(t, 8, 3)
			args := s.args("-once", "-brokers", l.brokers, "-kafka-tls", "-kafka-ca-file", l.caFile,
				"-kafka-sasl-mechanism", mech, "-kafka-sasl-user", l.user, "-kafka-sasl-password-file", l.passwordFile,
				"-log-level", "debug")
			r := runProducer(t.Context(), args, s.stack().env())
			if r.err != nil {
				t.Fatal(r)
			}
			want := s.stack().expected(t)
			// Read back over the plaintext listener: the same topic.
			checkExactlyOnce(t, s.readTopic(t, len(want), 60*time.Second), want)
			if strings.Contains(r.stdout+r.stderr, secret) {
				t.Error("the SASL password appears in the producer's output")
			}
		})
	}

	t.Run("wrong SASL password stops with one line", func(t *testing.T) {
		s := newRealStack(t, 2, 1)
		wrong := t.TempDir() + "/wrong"
		if err := os.WriteFile(wrong, []byte("not-the-password-7Q"), 0o600); err != nil {
			t.Fatal(err)
		}
		args := s.args("-once", "-brokers", l.brokers, "-kafka-tls", "-kafka-ca-file", l.caFile,
			"-kafka-sasl-mechanism", "SCRAM-SHA-512", "-kafka-sasl-user", l.user, "-kafka-sasl-password-file", wrong)
		r := runProducer(t.Context(), args, s.stack().env())
		code, line := oneLine(r.err)
		if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(strings.ToLower(line), "sasl") {
			t.Fatalf("got exit %d %q, want one line naming the SASL failure", code, line)
		}
		if strings.Contains(line+r.stdout+r.stderr, "not-the-password-7Q") || strings.Contains(line+r.stdout+r.stderr, secret) {
			t.Error("a SASL password appears in the output")
		}
		if got := s.sim.TotalCalls(); got != 0 {
			t.Errorf("IPS calls before the broker refused: got %d, want 0", got)
		}
	})

	t.Run("untrusted broker certificate stops with one line", func(t *testing.T) {
		s := newRealStack(t, 2, 1)
		args := s.args("-once", "-brokers", l.brokers, "-kafka-tls",
			"-kafka-sasl-mechanism", "PLAIN", "-kafka-sasl-user", l.user, "-kafka-sasl-password-file", l.passwordFile)
		r := runProducer(t.Context(), args, s.stack().env())
		code, line := oneLine(r.err)
		if code != 1 || strings.Count(line, "\n") != 1 || !strings.Contains(line, "certificate") {
			t.Fatalf("got exit %d %q, want one line naming the certificate problem", code, line)
		}
	})
}
