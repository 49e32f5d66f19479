package pipeline

import (
	"context"
	"time"
)

// Source reads the whole job log of one asset from IPS (getAssetJobLogs).
//
// Entries come back in the order IPS sent them, with CompanyHandle and
// AssetHandle filled in and EventID and ObservedAt left for the Poller.
// Entries that could not be decoded, in a log that otherwise could, come
// back as BadEntry values beside the good ones; a log that could not be
// read as a whole is an error. Implementations do not retry; errors that
// may succeed on a later call are recognised by the retry predicate given
// to the Poller.
type Source interface {
	AssetJobLogs(ctx context.Context, companyHandle, assetHandle string) ([]AssetJobLog, []BadEntry, error)
}

// JobSource lists company-wide IPS jobs and the assets each touched
// (getJobLogs and getJobLogDetails); discovery mode uses it to find the
// assets that had activity.
type JobSource interface {
	// JobLogs returns at most numRows jobs of the company whose start date
	// lies in [start, end], sorted by start date ascending.
	JobLogs(ctx context.Context, companyHandle string, start, end time.Time, numRows int) ([]Job, error)
	// JobAssetsFrom returns the handles of the assets the job's detail rows
	// touched from row from on (rows in the order IPS adds them, counted
	// from 0), without duplicates, paging through getJobLogDetails, and
	// next, the number of rows read through: JobAssetsFrom(next) later
	// returns only what the job touched since. From 0 it returns every
	// asset the job touched.
	JobAssetsFrom(ctx context.Context, companyHandle, jobHandle string, from int) (assets []string, next int, err error)
}

// Encoder turns an entry into the bytes of a Kafka record value.
// Implementations are safe for concurrent use.
type Encoder interface {
	// Encode appends the encoded entry to dst and returns the extended slice.
	Encode(dst []byte, e *AssetJobLog) ([]byte, error)
	// ContentType names the framing, for the record's content-type header.
	ContentType() string
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

// Record is one encoded entry ready for the topic.
type Record struct {
	Key     []byte
	Value   []byte
	Headers []Header
}

// Sink writes records to the topic.
//
// Publish is synchronous: it returns nil only once every record is
// acknowledged by the broker with the durability the sink was configured for,
// and an error otherwise, in which case some of the records may have been
// written (the caller re-publishes them; consumers deduplicate by event id).
// Records with the same key are written in the order given. Publish is safe
// for concurrent use; Close flushes nothing the caller has not already been
// told is written.
type Sink interface {
	Publish(ctx context.Context, records []Record) error
}
