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

func TestIsRetryable(t *testing.T) {
	dialErr := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	timeoutErr := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	wrap := func(err error) error { return fmt.Errorf("kafka: publish to topic %q: %w", "t", err) }

	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"connection refused", dialErr, true},
		{"connection reset", wrap(syscall.ECONNRESET), true},
		{"broken pipe", wrap(syscall.EPIPE), true},
		{"unexpected EOF", wrap(io.ErrUnexpectedEOF), true},
		{"EOF", wrap(io.EOF), true},
		{"read timeout", wrap(timeoutErr), true},
		{"DNS failure", &net.DNSError{Err: "no such host", Name: "kafka", IsNotFound: true}, true},
		{"context deadline", wrap(context.DeadlineExceeded), true},
		{"context canceled", wrap(context.Canceled), false},
		{"leader not available", wrap(kafkago.LeaderNotAvailable), true},
		{"not leader for partition", kafkago.NotLeaderForPartition, true},
		{"not enough replicas", kafkago.NotEnoughReplicas, true},
		{"not enough replicas after append", kafkago.NotEnoughReplicasAfterAppend, true},
		{"request timed out", kafkago.RequestTimedOut, true},
		{"network exception", kafkago.NetworkException, true},
		{"throttling quota exceeded", kafkago.ThrottlingQuotaExceeded, true},
		{"unknown topic", kafkago.UnknownTopicOrPartition, false},
		{"no leader in the client's metadata", wrap(protocol.ErrNoLeader), true},
		{"partition missing from the client's metadata", wrap(protocol.ErrNoPartition), true},
		{"topic not found", fmt.Errorf("kafka: %w: %q", kafka.ErrTopicNotFound, "t"), false},
		{"topic authorization", kafkago.TopicAuthorizationFailed, false},
		{"cluster authorization", kafkago.ClusterAuthorizationFailed, false},
		{"SASL authentication", wrap(kafkago.SASLAuthenticationFailed), false},
		{"SASL mechanism", kafkago.UnsupportedSASLMechanism, false},
		{"message too large", kafkago.MessageSizeTooLarge, false},
		{"message too large (writer)", kafkago.MessageTooLargeError{}, false},
		{"record list too large", kafkago.RecordListTooLarge, false},
		{"invalid record", kafkago.InvalidRecord, false},
		{"unsupported version", kafkago.UnsupportedVersion, false},
		{"closed sink", kafka.ErrClosed, false},
		{"closed writer", io.ErrClosedPipe, false},
		{"unknown certificate authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{"TLS alert", &net.OpError{Op: "remote error", Err: tls.AlertError(40)}, false},
		{"unknown error", errors.New("something else"), false},
		{"write errors all retryable", kafkago.WriteErrors{nil, kafkago.NotEnoughReplicas, kafkago.LeaderNotAvailable}, true},
		{"write errors one permanent", kafkago.WriteErrors{kafkago.NotEnoughReplicas, kafkago.MessageSizeTooLarge}, false},
		{"write errors with network error", wrap(kafkago.WriteErrors{dialErr, dialErr}), true},
		{"write errors all nil", kafkago.WriteErrors{nil, nil}, false},
		{"publish error, retryable members", &kafka.PublishError{Topic: "t", Failed: 1, Total: 2, Err: kafkago.WriteErrors{nil, kafkago.NotEnoughReplicas}}, true},
		{"publish error, writer gave up on timeout", &kafka.PublishError{Topic: "t", Failed: 2, Total: 2, Err: context.DeadlineExceeded}, true},
		{"publish error, cancelled", &kafka.PublishError{Topic: "t", Failed: 2, Total: 2, Err: context.Canceled}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := kafka.IsRetryable(c.err); got != c.want {
				t.Errorf("IsRetryable(%v) = %t, want %t", c.err, got, c.want)
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
