package pipeline

import "time"

// AssetJobLog is one entry of an asset's IPS job log, exactly as IPS reported
// it, with the context IPS leaves implicit (company and asset) and the
// producer's own bookkeeping (EventID, ObservedAt).
type AssetJobLog struct {
	// EventID is the deterministic id of the entry; see EventID.
	EventID string

	CompanyHandle string
	AssetHandle   string

	JobHandle       string
	JobName         string
	LogMessage      string
	LogType         string
	SubmitUserEmail string
	// LogDate is the instant of the entry, millisecond precision, UTC.
	LogDate time.Time
	// AuxArray holds the entry's auxiliary rows; nil and empty mean the same.
	AuxArray []JobLogDetail

	// ObservedAt is when the producer first saw the entry (UTC, milliseconds).
	ObservedAt time.Time
}

// JobLogDetail is one auxArray row of an AssetJobLog. IPS documents two
// shapes for it (JobLogDetailAux and JobLogDetail); the optional fields are
// nil when IPS did not send them.
type JobLogDetail struct {
	LogMessage  string
	LogType     string
	DateCreated *time.Time
	AssetName   *string
	AssetType   *string
	AssetHandle *string
}

// Job is one company-wide IPS job as listed by getJobLogs, reduced to what
// discovery needs.
type Job struct {
	JobHandle string
	JobName   string
	LogType   string
	StartDate time.Time
	// EndDate is zero while the job is still running.
	EndDate time.Time
}

// Running reports whether the job has no end date yet.
func (j Job) Running() bool { return j.EndDate.IsZero() }
