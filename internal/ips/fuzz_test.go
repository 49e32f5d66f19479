package ips_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assetjoblog/assetjoblog/internal/ips"
)

func addFixtureSeeds(f *testing.F) {
	names, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil || len(names) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(deeplyNested(70)))
}

// FuzzParseAssetJobLogs checks that any body decodes to entries, a *Fault
// or an ErrMalformedResponse, without panicking, and that decoded entries
// are in UTC at millisecond precision.
func FuzzParseAssetJobLogs(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ips.DecodeAssetJobLogs(bytes.NewReader(body), testCompany, testAsset)
		if err != nil {
			var fault *ips.Fault
			if !errors.As(err, &fault) && !errors.Is(err, ips.ErrMalformedResponse) {
				t.Fatalf("error %v is neither a Fault nor ErrMalformedResponse", err)
			}
			return
		}
		for i, e := range got {
			if e.LogDate.Location().String() != "UTC" || e.LogDate.Nanosecond()%1e6 != 0 {
				t.Fatalf("entry %d: LogDate %v not UTC milliseconds", i, e.LogDate)
			}
			if e.CompanyHandle != testCompany || e.AssetHandle != testAsset {
				t.Fatalf("entry %d: handles not filled", i)
			}
		}
	})
}

// FuzzParseFault checks the fault path of all three decoders: a body
// carrying a soapenv:Fault gives a *Fault whatever the operation.
func FuzzParseFault(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "fault_*.xml"))
	for _, name := range names {
		b, _ := os.ReadFile(name)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		_, errA := ips.DecodeAssetJobLogs(bytes.NewReader(body), testCompany, testAsset)
		_, errJ := ips.DecodeJobLogs(bytes.NewReader(body))
		_, _, errD := ips.DecodeJobLogDetails(bytes.NewReader(body))
		var fa, fj, fd *ips.Fault
		a, j, d := errors.As(errA, &fa), errors.As(errJ, &fj), errors.As(errD, &fd)
		if a != j || j != d {
			t.Fatalf("fault detection differs between operations: %v / %v / %v", errA, errJ, errD)
		}
		if a && (*fa != *fj || *fj != *fd) {
			t.Fatalf("faults differ: %+v / %+v / %+v", *fa, *fj, *fd)
		}
		if a && strings.TrimSpace(fa.Kind.String()) == "" {
			t.Fatal("fault kind has no name")
		}
	})
}
