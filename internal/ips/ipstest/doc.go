// Package ipstest is an in-process simulator of the Scene7 IPS SOAP web
// service, the parts assetjoblog uses: getAssetJobLogs, getJobLogs,
// getJobLogDetails and searchAssets, with authHeader or HTTP Basic credentials, IPS faults,
// any API version namespace and the namespace prefixes real responses use.
//
// NewServer runs it on an httptest server; NewHandler gives the same
// simulator as an http.Handler for a listener of one's own (cmd/ips-sim).
//
// # The synthetic company
//
// A company of N assets with M base entries each. Asset i has the handle
// "a|<companyID>|1|<i>" (see WithAssetHandlePrefix). Nothing is stored: an
// asset's base entries are computed from (seed, i) on every request, so a
// catalog of 100,000 assets × 1,000 entries costs no memory and the same
// seed gives the same bytes. Assets come in groups of 100; each group's
// entries are written by up to four base jobs, one per contiguous block of
// entry indexes, so getJobLogs and getJobLogDetails agree with
// getAssetJobLogs. Base entries are a minute apart per asset, strictly
// increasing, and every base job ends at least BaseAge (30 days) before the
// server's start: a search for recent jobs sees only added activity.
//
// Entries carry an open set of log types (UploadSuccess, FileUpdated,
// UploadWarning, UploadError, a misspelt ImageServingPublishSucess, ...),
// messages and asset names with characters that need escaping, and about
// one entry in four has auxArray items of both documented shapes
// (JobLogDetailAux, and JobLogDetail with asset fields), with and without
// dateCreated. Dates are written with milliseconds and an offset (-07:00
// unless WithLocation says otherwise).
//
// # The catalog listing
//
// searchAssets lists the assets in creation order (index order; assets
// made with AddAssets come last), filtered by folder, asset types and trash
// state (TrashAssets), with totalRows and pages of at most SearchPageMax
// assets, or SearchPageMaxLean when responseFieldArray keeps only the
// handle, name, type and subType fields; WithSearchPageCap lowers both,
// like a server that sends fewer than asked. AddAssets grows the catalog,
// also while a client pages through it.
//
// # Activity
//
// AddActivity, StartJob, AppendToJob and EndJob add jobs and entries dated
// by the server's clock (WithClock); StartActivity adds them in the
// background at a given rate. Entries, AllEntries and TotalEntries report
// what the server serves, for assertions.
//
// # Faults
//
// Credentials, company, parameters and XML are checked as IPS does:
// HTTP 500 (or the authHeader's faultHttpStatusCode) with an
// authenticationFault (10000 none, 10001 wrong), authorizationFault (20000
// unknown company) or ipsApiFault (30001 invalid parameter, 30002 missing
// parameter, 30003 invalid request XML). Inject programs gateway and
// network failures, SOAP faults and latency, for the next calls or with a
// probability; WithLatency and WithErrorRate apply to every call.
//
// It deliberately does not implement other IPS operations, SOAP 1.2,
// localised messages (locale is accepted and ignored), getJobLogs'
// userHandle filter or sorting of detail rows: rows come in the order the
// job wrote them, which is the date order sortBy Date asks for.
// AppendToJobLagging writes rows whose entries getAssetJobLogs serves only
// later, as when IPS writes a job's row before the asset's entry.
package ipstest
