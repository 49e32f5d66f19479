package kafka_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
)

func TestConfigDefaults(t *testing.T) {
	got := kafka.Config{}.WithDefaults()
	checks := []struct {
		field     string
		got, want any
	}{
		{"Brokers", fmt.Sprint(got.Brokers), "[localhost:9092]"},
		{"Topic", got.Topic, "ips.asset-job-logs"},
		{"Compression", got.Compression, "none"},
		{"BatchTimeout", got.BatchTimeout, 5 * time.Millisecond},
		{"BatchSize", got.BatchSize, 100},
		{"BatchBytes", got.BatchBytes, int64(0)},
		{"WriteTimeout", got.WriteTimeout, 10 * time.Second},
		{"DialTimeout", got.DialTimeout, 5 * time.Second},
		{"SASL.Mechanism", got.SASL.Mechanism, "none"},
		{"TLS.Enabled", got.TLS.Enabled, false},
		{"CreateTopic", got.CreateTopic, false},
		{"Partitions", got.Partitions, -1},
		{"ReplicationFactor", got.ReplicationFactor, -1},
		{"ClientID", got.ClientID, "assetjoblog"},
		{"Logger set", got.Logger != nil, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.field, c.got, c.want)
		}
	}
	if err := (kafka.Config{}).Validate(); err != nil {
		t.Errorf("zero Config: Validate() = %v, want nil", err)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		cfg   kafka.Config
		field string
	}{
		{"broker without port", kafka.Config{Brokers: []string{"kafka1"}}, "Brokers[0]"},
		{"second broker bad port", kafka.Config{Brokers: []string{"a:9092", "b:x"}}, "Brokers[1]"},
		{"broker port out of range", kafka.Config{Brokers: []string{"a:70000"}}, "Brokers[0]"},
		{"topic with space", kafka.Config{Topic: "asset logs"}, "Topic"},
		{"topic dot", kafka.Config{Topic: "."}, "Topic"},
		{"topic too long", kafka.Config{Topic: strings.Repeat("t", 250)}, "Topic"},
		{"unknown codec", kafka.Config{Compression: "brotli"}, "Compression"},
		{"negative batch timeout", kafka.Config{BatchTimeout: -time.Second}, "BatchTimeout"},
		{"negative batch size", kafka.Config{BatchSize: -1}, "BatchSize"},
		{"negative batch bytes", kafka.Config{BatchBytes: -1}, "BatchBytes"},
		{"negative write timeout", kafka.Config{WriteTimeout: -1}, "WriteTimeout"},
		{"negative dial timeout", kafka.Config{DialTimeout: -1}, "DialTimeout"},
		{"partitions -2", kafka.Config{Partitions: -2}, "Partitions"},
		{"replication -3", kafka.Config{ReplicationFactor: -3}, "ReplicationFactor"},
		{"cert without key", kafka.Config{TLS: kafka.TLSConfig{Enabled: true, CertFile: "c.pem"}}, "TLS.KeyFile"},
		{"key without cert", kafka.Config{TLS: kafka.TLSConfig{Enabled: true, KeyFile: "k.pem"}}, "TLS.CertFile"},
		{"unknown mechanism", kafka.Config{SASL: kafka.SASLConfig{Mechanism: "GSSAPI"}}, "SASL.Mechanism"},
		{"lower-case mechanism", kafka.Config{SASL: kafka.SASLConfig{Mechanism: "plain", Username: "u", Password: "p"}}, "SASL.Mechanism"},
		{"PLAIN without user", kafka.Config{SASL: kafka.SASLConfig{Mechanism: "PLAIN", Password: "p"}}, "SASL.Username"},
		{"SCRAM without password", kafka.Config{SASL: kafka.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "u"}}, "SASL.Password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			var cerr *kafka.ConfigError
			if !errors.As(err, &cerr) {
				t.Fatalf("Validate() = %v, want a *ConfigError", err)
			}
			if cerr.Field != c.field {
				t.Errorf("Field = %q, want %q (error %q)", cerr.Field, c.field, err)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Errorf("error %q does not name %s", err, c.field)
			}
		})
	}

	valid := []kafka.Config{
		{Brokers: []string{"127.0.0.1:19092", "[::1]:9092", "kafka-2.example:9093"}},
		{Topic: "ips.asset-job-logs_v2"},
		{Compression: "zstd", Partitions: 6, ReplicationFactor: 3, CreateTopic: true},
		{SASL: kafka.SASLConfig{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}},
		{TLS: kafka.TLSConfig{Enabled: true, CertFile: "c.pem", KeyFile: "k.pem"}},
		{TLS: kafka.TLSConfig{CertFile: "ignored while disabled"}},
	}
	for i, cfg := range valid {
		if err := cfg.Validate(); err != nil {
			t.Errorf("valid config %d: Validate() = %v", i, err)
		}
	}
}

func TestNewSinkBadTLSFiles(t *testing.T) {
	cfg := kafka.Config{TLS: kafka.TLSConfig{Enabled: true, CAFile: t.TempDir() + "/missing.pem"}}
	_, err := kafka.NewSink(testContext(t), cfg)
	var cerr *kafka.ConfigError
	if !errors.As(err, &cerr) || cerr.Field != "TLS.CAFile" {
		t.Fatalf("NewSink error = %v, want a ConfigError on TLS.CAFile", err)
	}
}

func TestConfigNeverShowsPassword(t *testing.T) {
	const secret = "s3cr3t-Pa55"
	cfg := kafka.Config{
		Brokers: []string{"kafka:9093"},
		SASL:    kafka.SASLConfig{Mechanism: "SCRAM-SHA-512", Username: "assetjoblog", Password: secret},
	}
	var logged bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logged, nil))
	logger.Info("config", "kafka", cfg, "sasl", cfg.SASL)
	logger.Info("config", "kafka", &cfg)

	outputs := map[string]string{
		"String":    cfg.String(),
		"%v":        fmt.Sprintf("%v", cfg),
		"%+v":       fmt.Sprintf("%+v", cfg),
		"%#v":       fmt.Sprintf("%#v", cfg),
		"%v ptr":    fmt.Sprintf("%v", &cfg),
		"SASL %+v":  fmt.Sprintf("%+v", cfg.SASL),
		"SASL %#v":  fmt.Sprintf("%#v", cfg.SASL),
		"slog JSON": logged.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, secret) {
			t.Errorf("%s shows the password: %s", name, out)
		}
		if !strings.Contains(out, "assetjoblog") {
			t.Errorf("%s lost the username: %s", name, out)
		}
	}
	if !strings.Contains(cfg.String(), "REDACTED") {
		t.Errorf("String() = %s, want the password marked as redacted", cfg.String())
	}
}
