package kafka_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
	"github.com/assetjoblog/assetjoblog/internal/kafka/kafkatest"
)

func TestSASL(t *testing.T) {
	const user, pass = "assetjoblog", "c0rrect-horse"
	for _, mech := range []string{kafka.SASLPlain, kafka.SASLScramSHA256, kafka.SASLScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			c, err := kafkatest.Start("jobs", 2, kfake.EnableSASL(), kfake.Superuser(mech, user, pass))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			t.Run("right password publishes", func(t *testing.T) {
				s := newSink(t, kafka.Config{Brokers: c.Brokers(), Topic: "jobs",
					SASL: kafka.SASLConfig{Mechanism: mech, Username: user, Password: pass}})
				sent := records(6, 3)
				if err := s.Publish(testContext(t), sent); err != nil {
					t.Fatalf("Publish: %v", err)
				}
				if err := s.Ready(testContext(t)); err != nil {
					t.Fatalf("Ready: %v", err)
				}
			})

			t.Run("wrong password fails without showing the password", func(t *testing.T) {
				// kfake closes the connection on a failed authentication
				// where Kafka first answers SASL_AUTHENTICATION_FAILED, so
				// only the failure is checked here; the answer Kafka gives
				// is checked by the PLAIN test below.
				const wrong = "wr0ng-Pa55word"
				_, err := kafka.NewSink(testContext(t), kafka.Config{Brokers: c.Brokers(), Topic: "jobs",
					SASL: kafka.SASLConfig{Mechanism: mech, Username: user, Password: wrong}})
				if err == nil {
					t.Fatal("NewSink succeeded with a wrong password")
				}
				if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), pass) {
					t.Errorf("error shows a password: %v", err)
				}
			})

			t.Run("no SASL is refused", func(t *testing.T) {
				_, err := kafka.NewSink(testContext(t), kafka.Config{Brokers: c.Brokers(), Topic: "jobs", DialTimeout: time.Second})
				if err == nil {
					t.Fatal("NewSink succeeded without SASL against a SASL cluster")
				}
			})
		})
	}
}

func TestSASLAuthenticationFailedIsPermanent(t *testing.T) {
	const user, pass, wrong = "assetjoblog", "c0rrect-horse", "wr0ng-Pa55word"
	c, err := kafkatest.Start("jobs", 1, kfake.EnableSASL(), kfake.Superuser(kafka.SASLPlain, user, pass))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Answer a wrong PLAIN password as Kafka does: error code 58.
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		parts := bytes.Split(r.SASLAuthBytes, []byte{0})
		if len(parts) == 3 && string(parts[2]) == pass {
			return nil, nil, false
		}
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed: Invalid username or password"
		resp.ErrorMessage = &msg
		return resp, nil, true
	})

	_, err = kafka.NewSink(testContext(t), kafka.Config{Brokers: c.Brokers(), Topic: "jobs",
		SASL: kafka.SASLConfig{Mechanism: kafka.SASLPlain, Username: user, Password: wrong}})
	if !errors.Is(err, kafkago.SASLAuthenticationFailed) {
		t.Fatalf("NewSink error = %v, want SASLAuthenticationFailed", err)
	}
	if kafka.IsRetryable(err) {
		t.Errorf("IsRetryable(%v) = true, want false", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error shows the password: %v", err)
	}
	newSink(t, kafka.Config{Brokers: c.Brokers(), Topic: "jobs",
		SASL: kafka.SASLConfig{Mechanism: kafka.SASLPlain, Username: user, Password: pass}})
}

// selfSigned writes a CA certificate for 127.0.0.1 to dir and returns its
// path and the server's tls.Config.
func selfSigned(t *testing.T, dir string) (caFile string, server *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "kafkatest broker"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		MinVersion:   tls.VersionTLS12,
	}
}

func TestTLS(t *testing.T) {
	caFile, serverTLS := selfSigned(t, t.TempDir())
	c, err := kafkatest.Start("jobs", 2, kfake.TLS(serverTLS))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	t.Run("trusted CA publishes", func(t *testing.T) {
		s := newSink(t, kafka.Config{Brokers: c.Brokers(), Topic: "jobs", TLS: kafka.TLSConfig{Enabled: true, CAFile: caFile}})
		if err := s.Publish(testContext(t), records(4, 2)); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	})

	t.Run("unknown CA is a permanent error", func(t *testing.T) {
		_, err := kafka.NewSink(testContext(t), kafka.Config{Brokers: c.Brokers(), Topic: "jobs", TLS: kafka.TLSConfig{Enabled: true}})
		if err == nil {
			t.Fatal("NewSink trusted a self-signed broker certificate")
		}
		var unknown x509.UnknownAuthorityError
		var verify *tls.CertificateVerificationError
		if !errors.As(err, &unknown) && !errors.As(err, &verify) {
			t.Errorf("error %v is not a certificate verification error", err)
		}
		if kafka.IsRetryable(err) {
			t.Errorf("IsRetryable(%v) = true, want false", err)
		}
	})

	t.Run("insecure skip verify connects", func(t *testing.T) {
		newSink(t, kafka.Config{Brokers: c.Brokers(), Topic: "jobs", TLS: kafka.TLSConfig{Enabled: true, InsecureSkipVerify: true}})
	})
}
