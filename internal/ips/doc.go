// Package ips is a client of the Adobe Scene7 (Dynamic Media Classic) IPS
// SOAP web service, reduced to the three operations assetjoblog needs:
// getAssetJobLogs (the job log of one asset), getJobLogs (company-wide jobs)
// and getJobLogDetails (the per-file rows of one job).
//
// Client implements pipeline.Source and pipeline.JobSource. It speaks SOAP
// 1.1 document/literal over HTTP POST, writes request envelopes by hand and
// decodes responses as a token stream, matching elements by namespace URI and
// local name, never by prefix. Responses are bounded in size (after gzip
// decoding) and nesting depth, and the XML decoder expands no external
// entities.
//
// An entry of a getAssetJobLogs response that is well-formed XML but does not
// decode (a required element missing, an unparsable date, bytes that are not
// UTF-8) costs only itself: it comes back as a pipeline.BadEntry with its raw
// XML, beside the entries that decode. A response malformed as a whole is an
// error.
//
// Errors are typed where the caller must decide: *Fault for a SOAP fault
// (with its kind, IPS code and reason), *TransportError for network failures
// and non-SOAP HTTP errors (gateway pages, 429, empty 5xx), and the sentinels
// ErrResponseTooLarge and ErrMalformedResponse. IsRetryable is the one
// predicate that says whether a later call may succeed; RetryAfter exposes a
// server's Retry-After.
//
// The package deliberately does not retry, log, or know anything of Kafka or
// Avro: retrying belongs to the caller (see IsRetryable), metrics to the
// optional Config.Observer hook. Credentials never appear in errors or in the
// printed form of Config or Client.
package ips
