package pipeline

// DeadLetterReason says why an entry could not be published: the value of
// the reason label of assetjoblog_dead_letters_total and of a dead letter's
// error class.
type DeadLetterReason string

// Dead-letter reasons.
const (
	// ReasonMalformed is an entry of the log that IPS sent in a shape the
	// source could not decode (a required element missing, an unparsable
	// date, invalid UTF-8), while the rest of the response was fine.
	ReasonMalformed DeadLetterReason = "malformed"
	// ReasonTooLarge is an entry whose record is larger than the topic
	// accepts.
	ReasonTooLarge DeadLetterReason = "too_large"
)
