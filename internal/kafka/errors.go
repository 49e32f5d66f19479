package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"syscall"

	kafkago "github.com/segmentio/kafka-go"
)

// ErrTopicNotFound is returned, wrapped with the topic and the brokers, by
// NewSink when the topic does not exist and Config.CreateTopic is false, and
// by Publish and Ready when the topic has disappeared. It is permanent.
var ErrTopicNotFound = errors.New("topic not found")

// ErrClosed is returned by Publish after Close. It is permanent.
var ErrClosed = errors.New("kafka sink closed")

// IsRetryable reports whether err, returned by NewSink, Publish, Ping or
// Ready, may go away if the same call is made again later: the brokers were
// unreachable, a connection broke, a request timed out, a partition had no
// leader or not enough in-sync replicas. It reports false for nil, for a
// cancelled context, and for errors that need a change of configuration or
// data: a missing topic, an authorization or SASL authentication failure, a
// TLS certificate problem, a record too large or rejected as invalid, a
// closed sink.
//
// A kafka.WriteErrors is retryable when every failed record's error is. An
// error the predicate does not recognise is not retryable.
func IsRetryable(err error) bool {
	if err == nil {
		return false
	}
	switch {
	case errors.Is(err, context.Canceled),
		errors.Is(err, ErrClosed),
		errors.Is(err, io.ErrClosedPipe),
		errors.Is(err, ErrTopicNotFound):
		return false
	}

	var werr kafkago.WriteErrors
	if errors.As(err, &werr) {
		failed := 0
		for _, e := range werr {
			if e == nil {
				continue
			}
			if !IsRetryable(e) {
				return false
			}
			failed++
		}
		return failed > 0
	}

	var tooLarge kafkago.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return false
	}

	var kerr kafkago.Error
	if errors.As(err, &kerr) {
		if permanentBrokerError(kerr) {
			return false
		}
		return kerr.Temporary() || kerr.Timeout()
	}

	// TLS failures that a new connection would meet again.
	var (
		unknownAuthority x509.UnknownAuthorityError
		certInvalid      x509.CertificateInvalidError
		hostname         x509.HostnameError
		verifyErr        *tls.CertificateVerificationError
		recordHeader     tls.RecordHeaderError
		alert            tls.AlertError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &certInvalid) || errors.As(err, &hostname) ||
		errors.As(err, &verifyErr) || errors.As(err, &recordHeader) || errors.As(err, &alert) {
		return false
	}

	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.EHOSTUNREACH) ||
		errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var nerr net.Error
	if errors.As(err, &nerr) {
		// Dial failures, DNS failures, read and write deadlines.
		return true
	}
	return false
}

// permanentBrokerError lists the broker error codes that no retry fixes,
// including UnknownTopicOrPartition, which kafka-go calls temporary because
// it can be seen while a new topic propagates: the sink checks the topic at
// start-up, so afterwards it means the topic was deleted.
func permanentBrokerError(e kafkago.Error) bool {
	switch e {
	case kafkago.UnknownTopicOrPartition,
		kafkago.InvalidTopic,
		kafkago.TopicAuthorizationFailed,
		kafkago.ClusterAuthorizationFailed,
		kafkago.TransactionalIDAuthorizationFailed,
		kafkago.SASLAuthenticationFailed,
		kafkago.UnsupportedSASLMechanism,
		kafkago.IllegalSASLState,
		kafkago.MessageSizeTooLarge,
		kafkago.RecordListTooLarge,
		kafkago.InvalidRecord,
		kafkago.InvalidRequiredAcks,
		kafkago.InvalidRequest,
		kafkago.UnsupportedVersion,
		kafkago.UnsupportedForMessageFormat,
		kafkago.UnsupportedCompressionType,
		kafkago.PolicyViolation,
		kafkago.InvalidPartitionNumber,
		kafkago.InvalidReplicationFactor,
		kafkago.TopicAlreadyExists:
		return true
	}
	return false
}
