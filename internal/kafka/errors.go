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
	"github.com/segmentio/kafka-go/protocol"
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
		return everyFailed(werr, IsRetryable)
	}

	var tooLarge kafkago.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return false
	}
	// kafka-go found no partition or leader in its metadata: an election
	// or a new partition, which the next metadata refresh settles.
	if errors.Is(err, protocol.ErrNoLeader) || errors.Is(err, protocol.ErrNoPartition) {
		return true
	}

	var kerr kafkago.Error
	if errors.As(err, &kerr) {
		if brokerCodes[kerr].permanent {
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

// NotAppended reports whether err, returned by Publish, proves that none of
// the records it concerns was appended to the topic, so that sending them
// again cannot duplicate them: the writer was closed, a record was too large
// to send, no connection could be opened (refused, unknown host, TLS
// handshake rejected), or the partition leader rejected the request before
// appending (NOT_LEADER_OR_FOLLOWER, LEADER_NOT_AVAILABLE,
// UNKNOWN_TOPIC_OR_PARTITION, NOT_ENOUGH_REPLICAS, an invalid or oversized
// record, an authorization failure).
//
// It reports false for nil and for every error whose outcome is unknown: a
// timeout (the client's or the broker's REQUEST_TIMED_OUT),
// NOT_ENOUGH_REPLICAS_AFTER_APPEND, a connection lost after the request
// went out, a cancelled context (kafka-go may still write the batch), an
// error it does not recognise. Records of such a write may be on the topic;
// the pipeline reads the partition back before sending them again.
//
// A kafka.WriteErrors proves nothing was appended when every failed record's
// error does; its nil entries are records that were acknowledged.
func NotAppended(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, io.ErrClosedPipe) || clientSideNoRoute(err) {
		return true
	}
	var werr kafkago.WriteErrors
	if errors.As(err, &werr) {
		return everyFailed(werr, NotAppended)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var tooLarge kafkago.MessageTooLargeError
	if errors.As(err, &tooLarge) {
		return true
	}
	var kerr kafkago.Error
	if errors.As(err, &kerr) {
		return brokerCodes[kerr].rejected
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	if errors.As(err, &dns) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		verifyErr        *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &verifyErr)
}

// brokerCode is what a broker error code means for the sink.
type brokerCode struct {
	// permanent: no retry fixes it; it needs a change of configuration
	// or data.
	permanent bool
	// rejected: a partition leader that answers a produce request with
	// it has appended none of the request.
	rejected bool
}

// brokerCodes lists the broker error codes whose meaning the sink knows.
// A code that is not here is retryable if kafka-go calls it temporary or a
// timeout, and of unknown outcome for a produce request: REQUEST_TIMED_OUT,
// NOT_ENOUGH_REPLICAS_AFTER_APPEND, NETWORK_EXCEPTION, KAFKA_STORAGE_ERROR
// and UNKNOWN_SERVER_ERROR are left out on purpose, since the records may
// be in the log.
//
// UNKNOWN_TOPIC_OR_PARTITION is permanent although kafka-go calls it
// temporary (it can be seen while a new topic propagates): the sink checks
// the topic at start-up, so afterwards it means the topic was deleted.
var brokerCodes = map[kafkago.Error]brokerCode{
	kafkago.NotLeaderForPartition: {rejected: true},
	kafkago.LeaderNotAvailable:    {rejected: true},
	kafkago.NotEnoughReplicas:     {rejected: true},

	kafkago.UnknownTopicOrPartition:            {permanent: true, rejected: true},
	kafkago.InvalidTopic:                       {permanent: true, rejected: true},
	kafkago.TopicAuthorizationFailed:           {permanent: true, rejected: true},
	kafkago.ClusterAuthorizationFailed:         {permanent: true, rejected: true},
	kafkago.SASLAuthenticationFailed:           {permanent: true, rejected: true},
	kafkago.UnsupportedSASLMechanism:           {permanent: true, rejected: true},
	kafkago.IllegalSASLState:                   {permanent: true, rejected: true},
	kafkago.MessageSizeTooLarge:                {permanent: true, rejected: true},
	kafkago.RecordListTooLarge:                 {permanent: true, rejected: true},
	kafkago.InvalidRecord:                      {permanent: true, rejected: true},
	kafkago.InvalidRequiredAcks:                {permanent: true, rejected: true},
	kafkago.InvalidRequest:                     {permanent: true, rejected: true},
	kafkago.UnsupportedVersion:                 {permanent: true, rejected: true},
	kafkago.UnsupportedForMessageFormat:        {permanent: true, rejected: true},
	kafkago.UnsupportedCompressionType:         {permanent: true, rejected: true},
	kafkago.PolicyViolation:                    {permanent: true, rejected: true},
	kafkago.InvalidPartitionNumber:             {permanent: true, rejected: true},
	kafkago.TransactionalIDAuthorizationFailed: {permanent: true},
	kafkago.InvalidReplicationFactor:           {permanent: true},
	kafkago.TopicAlreadyExists:                 {permanent: true},

	// Rejected; retryable as kafka-go says: CORRUPT_MESSAGE (damaged in
	// transit) is temporary, the other two are not.
	kafkago.InvalidMessage:     {rejected: true},
	kafkago.InvalidMessageSize: {rejected: true},
	kafkago.InvalidTimestamp:   {rejected: true},
}

// everyFailed reports whether werr has at least one failed record and
// every failed record's error satisfies is; its nil entries are records
// that were acknowledged.
func everyFailed(werr kafkago.WriteErrors, is func(error) bool) bool {
	failed := 0
	for _, e := range werr {
		if e == nil {
			continue
		}
		if !is(e) {
			return false
		}
		failed++
	}
	return failed > 0
}

// clientSideNoRoute reports kafka-go's own verdicts from its cluster
// metadata, given before any produce request is sent: the topic, the
// partition or its leader is not known (yet, or any more).
func clientSideNoRoute(err error) bool {
	return errors.Is(err, protocol.ErrNoTopic) || errors.Is(err, protocol.ErrNoPartition) || errors.Is(err, protocol.ErrNoLeader)
}
