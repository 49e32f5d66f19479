package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

func TestIPSErrorKind(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&ips.Fault{Kind: ips.FaultAuthentication, Code: 10001}, "authentication"},
		{fmt.Errorf("getAssetJobLogs: %w", &ips.Fault{Kind: ips.FaultAuthorization, Code: 20003}), "authorization"},
		{&ips.Fault{Kind: ips.FaultAPI, Code: 30000}, "api"},
		{&ips.Fault{Kind: ips.FaultUnknown}, "unknown_fault"},
		{&ips.TransportError{Op: "getJobLogs", StatusCode: 502}, "transport"},
		{fmt.Errorf("getAssetJobLogs: %w", ips.ErrMalformedResponse), "malformed"},
		{fmt.Errorf("getAssetJobLogs: %w", ips.ErrResponseTooLarge), "too_large"},
		{context.Canceled, "other"},
		{errors.New("something else"), "other"},
	} {
		if got := ipsErrorKind(c.err); got != c.want {
			t.Errorf("ipsErrorKind(%v): got %q, want %q", c.err, got, c.want)
		}
	}
}
