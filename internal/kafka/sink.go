package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// Sink writes pipeline records to one Kafka topic.
//
// Publish is synchronous and waits for acks=all; it is safe for concurrent
// use. The Sink keeps no buffer of its own: once Publish has returned, its
// records are either acknowledged or reported failed.
type Sink struct {
	cfg       Config
	brokers   string // for error messages
	transport *kafkago.Transport
	client    *kafkago.Client
	writer    *kafkago.Writer
	// admin reads the topic back and asks what kafka-go cannot (franz-go).
	admin *kgo.Client
	tls   *tls.Config
	// partitionIDs are the topic's partitions read at start-up, over which
	// murmur2Partition maps keys as the writer does.
	partitionIDs []int
	// limit is the largest record the topic accepts, learnt at start-up.
	limit RecordLimit

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

var _ pipeline.Sink = (*Sink)(nil)

// NewSink validates cfg, connects to the brokers and checks that the topic
// exists, creating it when cfg.CreateTopic is set.
//
// Errors: a *ConfigError for a bad field or an unreadable TLS file;
// ErrTopicNotFound (wrapped with the topic and brokers) for a missing topic;
// a retryable error (see IsRetryable) when no broker answers; a permanent
// one when authentication or TLS verification fails.
func NewSink(ctx context.Context, cfg Config) (*Sink, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	transport, tlsConfig, err := cfg.newTransport()
	if err != nil {
		return nil, err
	}
	codec, err := compression(cfg.Compression)
	if err != nil {
		return nil, err
	}

	addr := kafkago.TCP(cfg.Brokers...)
	logger := cfg.Logger
	admin, err := newAdminClient(cfg, tlsConfig)
	if err != nil {
		return nil, err
	}
	s := &Sink{
		cfg:       cfg,
		admin:     admin,
		tls:       tlsConfig,
		brokers:   fmt.Sprint(cfg.Brokers),
		transport: transport,
		client:    &kafkago.Client{Addr: addr, Timeout: cfg.WriteTimeout, Transport: transport},
		writer: &kafkago.Writer{
			Addr:     addr,
			Topic:    cfg.Topic,
			Balancer: murmur2Balancer,
			// One attempt per Publish: a retry inside the writer would
			// re-send a batch whose first attempt may have been appended
			// (a timeout says nothing about that). The pipeline owns the
			// retries, and reads the partition back first when the outcome
			// is unknown (see NotAppended).
			MaxAttempts:            1,
			BatchSize:              cfg.BatchSize,
			BatchBytes:             cfg.BatchBytes,
			BatchTimeout:           cfg.BatchTimeout,
			ReadTimeout:            cfg.WriteTimeout,
			WriteTimeout:           cfg.WriteTimeout,
			RequiredAcks:           kafkago.RequireAll,
			Async:                  false,
			Compression:            codec,
			Transport:              transport,
			AllowAutoTopicCreation: false,
			ErrorLogger: kafkago.LoggerFunc(func(format string, args ...any) {
				logger.Error(fmt.Sprintf(format, args...), slog.String("topic", cfg.Topic))
			}),
		},
	}
	if err := s.ensureTopic(ctx); err != nil {
		transport.CloseIdleConnections()
		admin.Close()
		return nil, err
	}
	s.learnRecordLimit(ctx)
	return s, nil
}

// Topic returns the topic the sink writes to.
func (s *Sink) Topic() string { return s.cfg.Topic }

// ensureTopic checks the topic at start-up and creates it if allowed.
func (s *Sink) ensureTopic(ctx context.Context) error {
	n, err := topicPartitions(ctx, s.client, s.brokers, s.cfg.Topic)
	if err != nil {
		return err
	}
	if n > 0 {
		s.partitionIDs = partitionRange(n)
		return nil
	}
	if !s.cfg.CreateTopic {
		return s.topicNotFound()
	}
	res, err := s.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{
		Topics: []kafkago.TopicConfig{{
			Topic:             s.cfg.Topic,
			NumPartitions:     s.cfg.Partitions,
			ReplicationFactor: s.cfg.ReplicationFactor,
		}},
	})
	if err != nil {
		return fmt.Errorf("kafka: create topic %q on brokers %s: %w", s.cfg.Topic, s.brokers, err)
	}
	if err := res.Errors[s.cfg.Topic]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return fmt.Errorf("kafka: create topic %q on brokers %s: %w", s.cfg.Topic, s.brokers, err)
	}
	if err := s.readPartitions(ctx); err != nil {
		return err
	}
	return s.waitLeaders(ctx)
}

// newTopicLeaderWait bounds how long NewSink waits for the partitions of a
// topic it created to get their leaders.
const newTopicLeaderWait = 30 * time.Second

// waitLeaders waits until the leader of each partition of a topic just
// created answers, so that the first writes are not refused with
// NOT_LEADER_OR_FOLLOWER while the brokers take up their new partitions
// (the sink makes one attempt per write). ListOffsets is answered by a
// partition's leader only.
// A new partition's leader may also answer UNKNOWN_TOPIC_OR_PARTITION for
// a moment; the wait is bounded by newTopicLeaderWait.
func (s *Sink) waitLeaders(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, newTopicLeaderWait)
	defer cancel()
	for _, p := range s.partitionIDs {
		for {
			_, err := s.listOffset(ctx, int32(p), -1)
			if err == nil {
				break
			}
			if !IsRetryable(err) && !errors.Is(err, kafkago.UnknownTopicOrPartition) {
				return err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("kafka: topic %q created, but partition %d has no leader yet: %w", s.cfg.Topic, p, err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// readPartitions reads the topic's partition count, waiting out a topic
// just created whose partitions are not in the metadata yet.
func (s *Sink) readPartitions(ctx context.Context) error {
	for {
		md, err := s.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{s.cfg.Topic}})
		if err != nil {
			return fmt.Errorf("kafka: metadata of topic %q from brokers %s: %w", s.cfg.Topic, s.brokers, err)
		}
		for _, t := range md.Topics {
			if t.Name == s.cfg.Topic && t.Error == nil && len(t.Partitions) > 0 {
				s.partitionIDs = partitionRange(len(t.Partitions))
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kafka: metadata of topic %q from brokers %s: no partitions: %w", s.cfg.Topic, s.brokers, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// topicPartitions asks the cluster's metadata, through client, for the
// partition count of topic: 0 when the topic does not exist or has no
// partitions yet. brokers names the cluster in errors.
func topicPartitions(ctx context.Context, client *kafkago.Client, brokers, topic string) (int, error) {
	md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return 0, fmt.Errorf("kafka: metadata of topic %q from brokers %s: %w", topic, brokers, err)
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		switch {
		case errors.Is(t.Error, kafkago.UnknownTopicOrPartition):
			return 0, nil
		case t.Error != nil:
			return 0, fmt.Errorf("kafka: metadata of topic %q from brokers %s: %w", topic, brokers, t.Error)
		}
		return len(t.Partitions), nil
	}
	return 0, nil
}

// partitionRange returns the partition ids 0..n-1 of a topic with n
// partitions.
func partitionRange(n int) []int {
	ids := make([]int, n)
	for i := range ids {
		ids[i] = i
	}
	return ids
}

func (s *Sink) topicNotFound() error {
	return fmt.Errorf("kafka: %w: %q on brokers %s (create it, or set CreateTopic)", ErrTopicNotFound, s.cfg.Topic, s.brokers)
}

// Publish writes records to the topic, each record's partition chosen from
// its key by murmur2 as the Java client does, and returns once every record
// is acknowledged by all in-sync replicas (acks=all), or with an error.
//
// It makes one attempt, and does not retry. On error some records may have
// been written; the error is a *PublishError saying how many failed and why,
// wrapping ErrTopicNotFound when the topic has gone, classified by
// IsRetryable and NotAppended, and reporting each record's outcome
// (RecordOutcomes). When ctx ends first, Publish returns with the
// context's error while the records already handed to the writer may still
// be written.
//
// Publish implements pipeline.Sink; it is safe for concurrent use. An empty
// slice is a no-op. After Close it returns ErrClosed.
func (s *Sink) Publish(ctx context.Context, records []pipeline.Record) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if len(records) == 0 {
		return nil
	}
	msgs := make([]kafkago.Message, len(records))
	for i, r := range records {
		var headers []kafkago.Header
		if len(r.Headers) > 0 {
			headers = make([]kafkago.Header, len(r.Headers))
			for j, h := range r.Headers {
				headers[j] = kafkago.Header{Key: h.Key, Value: h.Value}
			}
		}
		msgs[i] = kafkago.Message{Key: r.Key, Value: r.Value, Headers: headers}
	}

	err := s.writer.WriteMessages(ctx, msgs...)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.ErrClosedPipe) {
		return ErrClosed
	}
	return newPublishError(s.cfg.Topic, len(records), err)
}

// PublishError reports a Publish call that did not get every record
// acknowledged. errors.Is and errors.As see through it to the writer's error
// (a kafka.WriteErrors, a kafka.Error, a network or context error), to each
// distinct per-record error, and to ErrTopicNotFound when the topic is gone.
type PublishError struct {
	// Topic is the topic written to.
	Topic string
	// Failed is how many of the Total records were reported failed; when
	// the writer gave no per-record report it equals Total, though some may
	// have been written.
	Failed, Total int
	// Err is what the kafka-go writer returned.
	Err error

	causes []error // distinct per-record errors, then ErrTopicNotFound if the topic is gone
}

func newPublishError(topic string, total int, err error) *PublishError {
	e := &PublishError{Topic: topic, Failed: total, Total: total, Err: err}
	var werr kafkago.WriteErrors
	if errors.As(err, &werr) {
		e.Failed = werr.Count()
		seen := make(map[string]bool)
		for _, m := range werr {
			if m != nil && !seen[m.Error()] {
				seen[m.Error()] = true
				e.causes = append(e.causes, m)
			}
		}
	}
	for _, c := range append([]error{err}, e.causes...) {
		// The broker's UNKNOWN_TOPIC_OR_PARTITION, or kafka-go's own "topic
		// not found" when its refreshed metadata no longer lists the topic
		// (which of the two comes first depends on timing).
		if errors.Is(c, kafkago.UnknownTopicOrPartition) || errors.Is(c, protocol.ErrNoTopic) {
			e.causes = append(e.causes, ErrTopicNotFound)
			break
		}
	}
	for _, c := range append([]error{err}, e.causes...) {
		if tooLarge(c) {
			e.causes = append(e.causes, pipeline.ErrRecordTooLarge)
			break
		}
	}
	return e
}

// Error says which topic, how many records failed, and why (each distinct
// cause once).
func (e *PublishError) Error() string {
	var parts []string
	for _, c := range e.causes {
		if c != ErrTopicNotFound && c != pipeline.ErrRecordTooLarge {
			parts = append(parts, c.Error())
		}
	}
	why := strings.Join(parts, "; ")
	if why == "" {
		why = e.Err.Error()
	}
	if errors.Is(e, ErrTopicNotFound) {
		why = ErrTopicNotFound.Error() + ": " + why
	}
	return fmt.Sprintf("kafka: publish to topic %q: %d of %d records failed: %s", e.Topic, e.Failed, e.Total, why)
}

// RecordOutcomes says, for each record of the failed Publish in the order
// given, whether it was acknowledged, proven not appended (NotAppended), or
// of unknown outcome. It implements pipeline.RecordOutcomes.
func (e *PublishError) RecordOutcomes() []pipeline.PublishOutcome {
	out := make([]pipeline.PublishOutcome, e.Total)
	var werr kafkago.WriteErrors
	if !errors.As(e.Err, &werr) || len(werr) != e.Total {
		// No per-record report: the same outcome for all.
		o := pipeline.OutcomeUnknown
		if NotAppended(e.Err) {
			o = pipeline.OutcomeNotWritten
		}
		for i := range out {
			out[i] = o
		}
		return out
	}
	for i, err := range werr {
		switch {
		case err == nil:
			out[i] = pipeline.OutcomeWritten
		case NotAppended(err):
			out[i] = pipeline.OutcomeNotWritten
		default:
			out[i] = pipeline.OutcomeUnknown
		}
	}
	return out
}

// Unwrap returns the writer's error and the distinct causes.
func (e *PublishError) Unwrap() []error {
	return append([]error{e.Err}, e.causes...)
}

// Ping makes one request (ApiVersions) to a broker over the sink's pooled
// connections, with its TLS and SASL settings, and reports whether it got
// an answer.
func (s *Sink) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if _, err := s.client.ApiVersions(ctx, &kafkago.ApiVersionsRequest{}); err != nil {
		return fmt.Errorf("kafka: ping brokers %s: %w", s.brokers, err)
	}
	return nil
}

// Ready reports whether the sink can publish, for a readiness probe: a
// broker answers (Ping) and the topic is known to the cluster's metadata.
// The metadata comes from the sink's cache, refreshed every few seconds, so
// a topic deleted a moment ago may still count as present.
func (s *Sink) Ready(ctx context.Context) error {
	if err := s.Ping(ctx); err != nil {
		return err
	}
	n, err := topicPartitions(ctx, s.client, s.brokers, s.cfg.Topic)
	if err != nil {
		return err
	}
	if n == 0 {
		return s.topicNotFound()
	}
	return nil
}

// Close stops the sink: later Publish calls return ErrClosed, calls already
// running finish (their records are acknowledged or reported failed; Close
// waits for them), and the connections are closed. The sink holds no
// records that a caller has not been told about, so there is nothing to
// flush. Close is idempotent and safe for concurrent use.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		if err := s.writer.Close(); err != nil {
			s.closeErr = fmt.Errorf("kafka: close writer of topic %q: %w", s.cfg.Topic, err)
		}
		s.transport.CloseIdleConnections()
		s.admin.Close()
	})
	return s.closeErr
}

func compression(name string) (kafkago.Compression, error) {
	switch name {
	case "none":
		return 0, nil
	case "gzip":
		return kafkago.Gzip, nil
	case "snappy":
		return kafkago.Snappy, nil
	case "lz4":
		return kafkago.Lz4, nil
	case "zstd":
		return kafkago.Zstd, nil
	}
	return 0, &ConfigError{Field: "Compression", Problem: fmt.Sprintf("%q is not a codec", name)}
}

// security returns the TLS configuration (nil when TLS is off) and the SASL
// mechanism (nil for none) of every connection to c's brokers.
func (c Config) security() (*tls.Config, sasl.Mechanism, error) {
	tlsConfig, err := c.TLS.build()
	if err != nil {
		return nil, nil, err
	}
	mechanism, err := c.SASL.mechanism()
	if err != nil {
		return nil, nil, err
	}
	return tlsConfig, mechanism, nil
}

// newTransport returns the kafka-go Transport of c's brokers and its TLS
// configuration.
func (c Config) newTransport() (*kafkago.Transport, *tls.Config, error) {
	tlsConfig, mechanism, err := c.security()
	if err != nil {
		return nil, nil, err
	}
	return &kafkago.Transport{DialTimeout: c.DialTimeout, ClientID: c.ClientID, TLS: tlsConfig, SASL: mechanism}, tlsConfig, nil
}

// build returns the *tls.Config for the transport, or nil when TLS is off.
// Errors name the file, never its content.
func (t TLSConfig) build() (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // documented as tests only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, &ConfigError{Field: "TLS.CAFile", Problem: fmt.Sprintf("read: %v", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, &ConfigError{Field: "TLS.CAFile", Problem: fmt.Sprintf("%s holds no PEM certificate", t.CAFile)}
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, &ConfigError{Field: "TLS.CertFile", Problem: fmt.Sprintf("load key pair %s, %s: %v", t.CertFile, t.KeyFile, err)}
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// mechanism returns the SASL mechanism, or nil for none.
func (s SASLConfig) mechanism() (sasl.Mechanism, error) {
	switch s.Mechanism {
	case SASLNone:
		return nil, nil
	case SASLPlain:
		return plain.Mechanism{Username: s.Username, Password: s.Password}, nil
	case SASLScramSHA256, SASLScramSHA512:
		algo := scram.SHA256
		if s.Mechanism == SASLScramSHA512 {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, s.Username, s.Password)
		if err != nil {
			// The scram package's errors are about the username/password
			// normalisation; do not echo either.
			return nil, &ConfigError{Field: "SASL", Problem: "username or password cannot be used with " + s.Mechanism}
		}
		return m, nil
	}
	return nil, &ConfigError{Field: "SASL.Mechanism", Problem: fmt.Sprintf("%q is not supported", s.Mechanism)}
}
