package kafka

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Defaults applied to the zero fields of a Config.
const (
	DefaultBroker       = "localhost:9092"
	DefaultTopic        = "ips.asset-job-logs"
	DefaultCompression  = "none"
	DefaultBatchTimeout = 5 * time.Millisecond
	DefaultBatchSize    = 100
	DefaultWriteTimeout = 10 * time.Second
	DefaultDialTimeout  = 5 * time.Second
	DefaultClientID     = "assetjoblog"
)

// Compression codecs accepted by Config.Compression.
var compressions = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// SASL mechanisms accepted by SASLConfig.Mechanism.
const (
	SASLNone        = "none"
	SASLPlain       = "PLAIN"
	SASLScramSHA256 = "SCRAM-SHA-256"
	SASLScramSHA512 = "SCRAM-SHA-512"
)

// Config configures a Sink. The zero value, after defaults, writes to topic
// ips.asset-job-logs on localhost:9092 over plaintext.
type Config struct {
	// Brokers are the bootstrap brokers, host:port.
	//
	// Default: ["localhost:9092"].
	Brokers []string

	// Topic is the topic every record is written to.
	//
	// Default: "ips.asset-job-logs".
	Topic string

	// Compression is the codec of the record batches: none, gzip, snappy,
	// lz4 or zstd.
	//
	// Default: "none".
	Compression string

	// BatchTimeout is how long the writer waits for more records before it
	// sends an incomplete batch. Publish is synchronous, so this is added to
	// the latency of every call whose records do not fill a batch; kafka-go's
	// own default of 1s would make each Publish take a second.
	//
	// Default: 5ms.
	BatchTimeout time.Duration

	// BatchSize is the most records sent to one partition in one request.
	//
	// Default: 100.
	BatchSize int

	// BatchBytes is the largest batch of records sent to one partition, in
	// bytes as kafka-go counts them; a single record larger than this is
	// refused without being sent (Sink.CheckRecord). NewSink learns the
	// largest batch the topic accepts (its max.message.bytes) and uses that;
	// a BatchBytes set here can only lower it.
	//
	// Default: 0, the topic's max.message.bytes less the batch framing.
	BatchBytes int64

	// WriteTimeout bounds each produce request, including waiting for the
	// acknowledgements.
	//
	// Default: 10s.
	WriteTimeout time.Duration

	// DialTimeout bounds each connection attempt, TLS and SASL included.
	//
	// Default: 5s.
	DialTimeout time.Duration

	// TLS configures encryption of the connections to the brokers.
	//
	// Default: disabled.
	TLS TLSConfig

	// SASL configures authentication to the brokers.
	//
	// Default: none.
	SASL SASLConfig

	// CreateTopic makes NewSink create the topic, with Partitions and
	// ReplicationFactor, when it does not exist. When false a missing topic
	// is an error (ErrTopicNotFound).
	//
	// Default: false.
	CreateTopic bool

	// Partitions is the partition count of a topic created by CreateTopic;
	// -1 takes the broker's num.partitions.
	//
	// Default: -1.
	Partitions int

	// ReplicationFactor is the replication factor of a topic created by
	// CreateTopic; -1 takes the broker's default.replication.factor.
	//
	// Default: -1.
	ReplicationFactor int

	// ClientID names the producer in the brokers' logs and quotas.
	//
	// Default: "assetjoblog".
	ClientID string

	// Logger receives kafka-go's error reports (never secrets).
	//
	// Default: a logger that discards everything.
	Logger *slog.Logger
}

// TLSConfig configures TLS to the brokers.
type TLSConfig struct {
	// Enabled turns TLS on. The other fields are ignored when it is false.
	Enabled bool
	// CAFile is a PEM file of the certificate authorities that sign the
	// brokers' certificates. Default: the system's roots.
	CAFile string
	// CertFile and KeyFile are the PEM client certificate and key for
	// mutual TLS; both or neither. Default: no client certificate.
	CertFile string
	KeyFile  string
	// InsecureSkipVerify accepts any broker certificate. For tests only.
	InsecureSkipVerify bool
}

// SASLConfig configures SASL authentication to the brokers.
//
// Its String, GoString and LogValue never show the password.
type SASLConfig struct {
	// Mechanism is none, PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	// Default: none.
	Mechanism string
	// Username is required with any mechanism but none.
	Username string
	// Password is the secret; it never appears in errors, logs or String.
	Password string
}

// ConfigError reports a Config field with an unusable value.
type ConfigError struct {
	// Field is the name of the field, e.g. "SASL.Username".
	Field string
	// Problem says what is wrong with it.
	Problem string
}

// Error implements error.
func (e *ConfigError) Error() string {
	return "kafka config: " + e.Field + ": " + e.Problem
}

// WithDefaults returns a copy of c with every zero field set to its
// documented default.
func (c Config) WithDefaults() Config {
	c.setDefaults()
	return c
}

func (c *Config) setDefaults() {
	if len(c.Brokers) == 0 {
		c.Brokers = []string{DefaultBroker}
	}
	if c.Topic == "" {
		c.Topic = DefaultTopic
	}
	if c.Compression == "" {
		c.Compression = DefaultCompression
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = DefaultBatchTimeout
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.SASL.Mechanism == "" {
		c.SASL.Mechanism = SASLNone
	}
	if c.Partitions == 0 {
		c.Partitions = -1
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = -1
	}
	if c.ClientID == "" {
		c.ClientID = DefaultClientID
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports the first field of c, after defaults, that NewSink could
// not use, as a *ConfigError. It makes no network call and opens no file.
func (c Config) Validate() error {
	c.setDefaults()
	return c.validate()
}

func (c *Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
	}
	for i, b := range c.Brokers {
		host, port, err := net.SplitHostPort(b)
		if err != nil || host == "" {
			return bad(fmt.Sprintf("Brokers[%d]", i), "%q is not host:port", b)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return bad(fmt.Sprintf("Brokers[%d]", i), "%q has no valid port", b)
		}
	}
	if err := validTopic(c.Topic); err != "" {
		return bad("Topic", "%q %s", c.Topic, err)
	}
	if !contains(compressions, c.Compression) {
		return bad("Compression", "%q is not one of %s", c.Compression, strings.Join(compressions, ", "))
	}
	switch {
	case c.BatchTimeout < 0:
		return bad("BatchTimeout", "%v is negative", c.BatchTimeout)
	case c.BatchSize < 1:
		return bad("BatchSize", "%d is less than 1", c.BatchSize)
	case c.BatchBytes < 0:
		return bad("BatchBytes", "%d is negative", c.BatchBytes)
	case c.WriteTimeout < 0:
		return bad("WriteTimeout", "%v is negative", c.WriteTimeout)
	case c.DialTimeout < 0:
		return bad("DialTimeout", "%v is negative", c.DialTimeout)
	case c.Partitions < 1 && c.Partitions != -1:
		return bad("Partitions", "%d is neither positive nor -1 (broker default)", c.Partitions)
	case c.ReplicationFactor < 1 && c.ReplicationFactor != -1:
		return bad("ReplicationFactor", "%d is neither positive nor -1 (broker default)", c.ReplicationFactor)
	case c.ReplicationFactor > 32767:
		return bad("ReplicationFactor", "%d is too large", c.ReplicationFactor)
	}
	if c.TLS.Enabled && (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		if c.TLS.CertFile == "" {
			return bad("TLS.CertFile", "is empty while TLS.KeyFile is set")
		}
		return bad("TLS.KeyFile", "is empty while TLS.CertFile is set")
	}
	switch c.SASL.Mechanism {
	case SASLNone:
	case SASLPlain, SASLScramSHA256, SASLScramSHA512:
		if c.SASL.Username == "" {
			return bad("SASL.Username", "is empty with mechanism %s", c.SASL.Mechanism)
		}
		if c.SASL.Password == "" {
			return bad("SASL.Password", "is empty with mechanism %s", c.SASL.Mechanism)
		}
	default:
		return bad("SASL.Mechanism", "%q is not one of none, PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", c.SASL.Mechanism)
	}
	return nil
}

// validTopic returns why name is not a legal Kafka topic name, or "".
func validTopic(name string) string {
	switch {
	case name == "." || name == "..":
		return "is not a legal topic name"
	case len(name) > 249:
		return "is longer than 249 characters"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Sprintf("contains %q; topic names use only ASCII letters, digits, '.', '_' and '-'", r)
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

const redacted = "[REDACTED]"

// String describes the configuration without the SASL password.
func (c Config) String() string {
	return fmt.Sprintf("kafka.Config{Brokers:%v Topic:%q Compression:%q BatchTimeout:%v BatchSize:%d BatchBytes:%d "+
		"WriteTimeout:%v DialTimeout:%v TLS:%+v SASL:%v CreateTopic:%t Partitions:%d "+
		"ReplicationFactor:%d ClientID:%q}",
		c.Brokers, c.Topic, c.Compression, c.BatchTimeout, c.BatchSize, c.BatchBytes,
		c.WriteTimeout, c.DialTimeout, c.TLS, c.SASL, c.CreateTopic, c.Partitions,
		c.ReplicationFactor, c.ClientID)
}

// GoString is String, so that %#v hides the password too.
func (c Config) GoString() string { return c.String() }

// LogValue renders the configuration for log/slog without the SASL password.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Any("brokers", c.Brokers),
		slog.String("topic", c.Topic),
		slog.String("compression", c.Compression),
		slog.Duration("batch_timeout", c.BatchTimeout),
		slog.Int("batch_size", c.BatchSize),
		slog.Int64("batch_bytes", c.BatchBytes),
		slog.Duration("write_timeout", c.WriteTimeout),
		slog.Duration("dial_timeout", c.DialTimeout),
		slog.Bool("tls", c.TLS.Enabled),
		slog.Any("sasl", c.SASL),
		slog.Bool("create_topic", c.CreateTopic),
		slog.String("client_id", c.ClientID),
	)
}

// String describes the SASL settings with the password redacted.
func (s SASLConfig) String() string {
	pw := ""
	if s.Password != "" {
		pw = redacted
	}
	return fmt.Sprintf("{Mechanism:%s Username:%q Password:%s}", s.Mechanism, s.Username, pw)
}

// GoString is String, so that %#v hides the password too.
func (s SASLConfig) GoString() string { return s.String() }

// LogValue renders the SASL settings for log/slog with the password redacted.
func (s SASLConfig) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("mechanism", s.Mechanism), slog.String("username", s.Username)}
	if s.Password != "" {
		attrs = append(attrs, slog.String("password", redacted))
	}
	return slog.GroupValue(attrs...)
}
