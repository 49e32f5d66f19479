package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/assetjoblog/assetjoblog/internal/ips"
	"github.com/assetjoblog/assetjoblog/internal/kafka"
)

// fatal reports whether an error met while polling must stop the producer:
// no later round can succeed without a change by an operator. Other errors
// fail only the asset they occurred on, which the next round polls again.
func fatal(err error) bool {
	var fault *ips.Fault
	if errors.As(err, &fault) {
		return fault.Kind == ips.FaultAuthentication || fault.Kind == ips.FaultAuthorization
	}
	if errors.Is(err, kafka.ErrTopicNotFound) || errors.Is(err, kafka.ErrClosed) || errors.Is(err, kafka.ErrTailGone) {
		return true
	}
	for _, code := range []kafkago.Error{
		kafkago.UnknownTopicOrPartition, kafkago.TopicAuthorizationFailed, kafkago.ClusterAuthorizationFailed,
		kafkago.SASLAuthenticationFailed, kafkago.UnsupportedSASLMechanism, kafkago.UnsupportedCompressionType,
	} {
		if errors.Is(err, code) {
			return true
		}
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		verify           *tls.CertificateVerificationError
	)
	return errors.As(err, &unknownAuthority) || errors.As(err, &hostname) || errors.As(err, &verify)
}
