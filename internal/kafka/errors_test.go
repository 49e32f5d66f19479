package kafka_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/assetjoblog/assetjoblog/internal/kafka"
)

// TestErrorVerdicts: for each error the sink can return, whether a later
// call may succeed (IsRetryable) and whether it proves nothing was appended
// (NotAppended), so that the records may be sent again without a read-back.
func TestErrorVerdicts(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	readErr := &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	timeoutErr := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	wrap := func(err error) error { return fmt.Errorf("kafka: publish to topic %q: %w", "t", err) }

	cases := []struct {
		name                   string
		err                    error
		retryable, notAppended bool
	}{
		{"nil", nil, false, false},
		{"connection refused at dial", dialErr, true, true},
		{"unknown host", &net.DNSError{Err: "no such host", Name: "kafka", IsNotFound: true}, true, true},
		{"connection reset", wrap(syscall.ECONNRESET), true, false},
		{"connection lost after sending", wrap(readErr), true, false},
		{"broken pipe", wrap(syscall.EPIPE), true, false},
		{"unexpected EOF", wrap(io.ErrUnexpectedEOF), true, false},
		{"EOF", wrap(io.EOF), true, false},
		{"read timeout", wrap(timeoutErr), true, false},
		{"client timeout", wrap(context.DeadlineExceeded), true, false},
		{"cancelled", wrap(context.Canceled), false, false},
		{"leader not available", wrap(kafkago.LeaderNotAvailable), true, true},
		{"not leader for partition", kafkago.NotLeaderForPartition, true, true},
		{"not enough replicas", kafkago.NotEnoughReplicas, true, true},
		{"not enough replicas after append", kafkago.NotEnoughReplicasAfterAppend, true, false},
		{"request timed out", kafkago.RequestTimedOut, true, false},
		{"network exception", kafkago.NetworkException, true, false},
		{"storage error", kafkago.KafkaStorageError, true, false},
		{"throttling quota exceeded", kafkago.ThrottlingQuotaExceeded, true, false},
		{"unknown topic or partition", kafkago.UnknownTopicOrPartition, false, true},
		{"topic missing from the client's metadata", wrap(fmt.Errorf("fetch request error: %w", protocol.ErrNoTopic)), false, true},
		{"no leader in the client's metadata", wrap(protocol.ErrNoLeader), true, true},
		{"partition missing from the client's metadata", wrap(protocol.ErrNoPartition), true, true},
		{"topic not found", fmt.Errorf("kafka: %w: %q", kafka.ErrTopicNotFound, "t"), false, false},
		{"topic authorization", kafkago.TopicAuthorizationFailed, false, true},
		{"cluster authorization", kafkago.ClusterAuthorizationFailed, false, true},
		{"SASL authentication", wrap(kafkago.SASLAuthenticationFailed), false, true},
		{"SASL mechanism", kafkago.UnsupportedSASLMechanism, false, true},
		{"message too large", kafkago.MessageSizeTooLarge, false, true},
		{"message too large (writer)", kafkago.MessageTooLargeError{}, false, true},
		{"record list too large", kafkago.RecordListTooLarge, false, true},
		{"invalid record", kafkago.InvalidRecord, false, true},
		{"unsupported version", kafkago.UnsupportedVersion, false, true},
		{"closed sink", kafka.ErrClosed, false, true},
		{"closed writer", io.ErrClosedPipe, false, true},
		{"unknown certificate authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false, true},
		{"TLS alert", &net.OpError{Op: "remote error", Err: tls.AlertError(40)}, false, false},
		{"unknown error", errors.New("something else"), false, false},
		{"write errors, all rejected and retryable", kafkago.WriteErrors{nil, kafkago.NotEnoughReplicas, kafkago.LeaderNotAvailable}, true, true},
		{"write errors, one permanent", kafkago.WriteErrors{kafkago.NotEnoughReplicas, kafkago.MessageSizeTooLarge}, false, true},
		{"write errors, one timed out", kafkago.WriteErrors{kafkago.NotEnoughReplicas, kafkago.RequestTimedOut}, true, false},
		{"write errors, refused connections", wrap(kafkago.WriteErrors{dialErr, dialErr}), true, true},
		{"write errors, no leader in the client's metadata", kafkago.WriteErrors{protocol.ErrNoLeader, nil}, true, true},
		{"write errors, all nil", kafkago.WriteErrors{nil, nil}, false, false},
		{"publish error, retryable members", &kafka.PublishError{Topic: "t", Failed: 1, Total: 2, Err: kafkago.WriteErrors{nil, kafkago.NotEnoughReplicas}}, true, true},
		{"publish error, rejected", &kafka.PublishError{Topic: "t", Failed: 1, Total: 2, Err: kafkago.WriteErrors{nil, kafkago.NotLeaderForPartition}}, true, true},
		{"publish error, writer gave up on timeout", &kafka.PublishError{Topic: "t", Failed: 2, Total: 2, Err: context.DeadlineExceeded}, true, false},
		{"publish error, cancelled", &kafka.PublishError{Topic: "t", Failed: 2, Total: 2, Err: context.Canceled}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := kafka.IsRetryable(c.err); got != c.retryable {
				t.Errorf("IsRetryable(%v) = %t, want %t", c.err, got, c.retryable)
			}
			if got := kafka.NotAppended(c.err); got != c.notAppended {
				t.Errorf("NotAppended(%v) = %t, want %t", c.err, got, c.notAppended)
			}
		})
	}
}

func TestPublishErrorUnwraps(t *testing.T) {
	werr := kafkago.WriteErrors{nil, kafkago.NotEnoughReplicas, kafkago.NotEnoughReplicas, nil}
	err := error(&kafka.PublishError{Topic: "jobs", Failed: 2, Total: 4, Err: werr})
	var got kafkago.WriteErrors
	if !errors.As(err, &got) || len(got) != 4 {
		t.Errorf("errors.As(WriteErrors) = %v, want the writer's 4 entries", got)
	}
}
