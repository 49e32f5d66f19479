package ips

import (
	"io"

	"github.com/assetjoblog/assetjoblog/pipeline"
)

// DecodeJobLogs exposes the getJobLogs decoder to the black-box tests.
func DecodeJobLogs(r io.Reader) ([]pipeline.Job, error) {
	d := decoder{s: newScanner(r)}
	return d.jobLogs()
}

// DecodeJobLogDetails exposes the getJobLogDetails decoder to the
// black-box tests.
func DecodeJobLogDetails(r io.Reader) ([]JobLogDetailRow, int, error) {
	d := decoder{s: newScanner(r)}
	return d.jobLogDetails()
}
