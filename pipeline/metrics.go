package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Round outcomes, the values of the outcome label of
// assetjoblog_rounds_total.
const (
	roundOK          = "ok"          // every asset completed
	roundIncomplete  = "incomplete"  // some assets failed transiently; retried next round
	roundFailed      = "failed"      // a permanent error stopped the round (and the producer)
	roundInterrupted = "interrupted" // shutdown stopped the round
)

// ipsErrorKinds are the values of the kind label of
// assetjoblog_ips_errors_total. Each starts at zero, so that an alert on
// its increase sees the first error.
var ipsErrorKinds = []string{"authentication", "authorization", "api", "unknown_fault", "transport", "malformed", "too_large", "other"}

// Metrics are the Prometheus collectors of the producer. All names start
// with assetjoblog_. A nil *Metrics records nothing.
type Metrics struct {
	ipsCalls        *prometheus.CounterVec
	ipsLatency      *prometheus.HistogramVec
	ipsErrors       *prometheus.CounterVec
	published       prometheus.Counter
	publishErrors   prometheus.Counter
	publishLatency  prometheus.Histogram
	freshness       prometheus.Histogram
	retries         *prometheus.CounterVec
	roundDuration   prometheus.Histogram
	rounds          *prometheus.CounterVec
	lastSuccess     prometheus.Gauge
	lastDuration    prometheus.Gauge
	pollInterval    prometheus.Gauge
	assetsFailed    prometheus.Counter
	roundAssets     prometheus.Gauge
	roundCalls      *prometheus.GaugeVec
	assetsTouched   prometheus.Gauge
	jobsInFlight    prometheus.Gauge
	futureDated     prometheus.Counter
	deadLetters     *prometheus.CounterVec
	commits         prometheus.Counter
	commitErrors    prometheus.Counter
	catalogAssets   prometheus.Gauge
	backfillTotal   prometheus.Gauge
	backfillDone    prometheus.Gauge
	reconcileRead   prometheus.Counter
	reconcileTime   prometheus.Histogram
	dupsAvoided     prometheus.Counter
	ambiguous       prometheus.Counter
	lastCommitNanos atomic.Int64
	readiness       atomic.Pointer[func() bool]

	groupPartitions      prometheus.Gauge
	groupAssets          prometheus.Gauge
	groupStatePartitions prometheus.Gauge
	groupRebalances      prometheus.Counter
	groupGeneration      prometheus.Gauge
	groupRestore         prometheus.Histogram
}

// NewMetrics creates the collectors and registers them with reg (nil:
// prometheus.DefaultRegisterer).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	if reg == nil {
		reg = prometheus.DefaultRegisterer
	}
	m := &Metrics{
		ipsCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assetjoblog_ips_calls_total",
			Help: "IPS SOAP calls by operation and outcome (ok, fault, transport, error).",
		}, []string{"operation", "outcome"}),
		ipsLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "assetjoblog_ips_call_duration_seconds",
			Help:    "Latency of IPS SOAP calls by operation, including the response decode.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"operation"}),
		ipsErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assetjoblog_ips_errors_total",
			Help: "Failed IPS calls by kind: authentication, authorization, api, unknown_fault (SOAP faults by their IPS detail), " +
				"transport (network, HTTP status without a fault), malformed, too_large, other.",
		}, []string{"kind"}),
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assetjoblog_entries_published_total",
			Help: "Entries acknowledged by the broker (re-publications after a crash included).",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assetjoblog_publish_errors_total",
			Help: "Failed publish attempts to Kafka (each retry counts).",
		}),
		publishLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "assetjoblog_publish_duration_seconds",
			Help:    "Duration of one publish attempt of an asset's new entries, until the broker acknowledged them or the attempt failed.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		freshness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "assetjoblog_entry_freshness_seconds",
			Help: "Delay from an entry's logDate to the broker's acknowledgement of its record.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200,
				86400, 259200, 604800},
		}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assetjoblog_retries_total",
			Help: "Retries of remote calls by target (ips, kafka).",
		}, []string{"target"}),
		roundDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "assetjoblog_round_duration_seconds",
			Help:    "Duration of a poll round.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 18),
		}),
		rounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assetjoblog_rounds_total",
			Help: "Poll rounds by outcome: ok, incomplete (some assets are retried next round), failed (a permanent error), interrupted (shutdown).",
		}, []string{"outcome"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_last_round_success_timestamp_seconds",
			Help: "Unix time at which the last round that completed every asset ended (0 before the first).",
		}),
		lastDuration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_last_round_duration_seconds",
			Help: "Duration of the last round that ended, whatever its outcome. Rounds start every poll interval, or back to back when a round lasts longer.",
		}),
		pollInterval: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_poll_interval_seconds",
			Help: "The configured pause between the starts of two poll rounds.",
		}),
		assetsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assetjoblog_assets_failed_total",
			Help: "Assets whose round failed with a transient error after all retries; they are polled again next round.",
		}),
		roundAssets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_round_assets",
			Help: "Assets polled in the last round.",
		}),
		roundCalls: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "assetjoblog_round_ips_calls",
			Help: "IPS calls made in the last round, by operation.",
		}, []string{"operation"}),
		assetsTouched: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_discovery_assets_touched",
			Help: "Assets the jobs of the last discovery round touched.",
		}),
		jobsInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_discovery_jobs_in_flight",
			Help: "Jobs still running at the end of the last discovery round; they are revisited.",
		}),
		catalogAssets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_catalog_assets",
			Help: "Assets the last catalog listing (searchAssets) returned.",
		}),
		backfillTotal: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_backfill_assets_total",
			Help: "Assets the backfill works through (the catalog's totalRows, owned assets only); 0 without a backfill.",
		}),
		backfillDone: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_backfill_assets_done",
			Help: "Assets of the backfill whose whole log is published and committed.",
		}),
		commits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assetjoblog_checkpoint_commits_total",
			Help: "Successful checkpoint commits (one per asset with new entries, one per discovery round).",
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assetjoblog_checkpoint_commit_errors_total",
			Help: "Failed checkpoint commits. The producer stops; at the next start it finds the entries just published on the topic and does not send them again.",
		}),
		groupPartitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_group_owned_partitions",
			Help: "Partitions of the state topic this replica owns in the current group generation (0 without replicas).",
		}),
		groupAssets: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_group_owned_assets",
			Help: "Assets this replica polls in the current group generation (0 without replicas).",
		}),
		groupStatePartitions: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_group_state_partitions",
			Help: "Partitions of the state topic; assets are left unowned while the replicas' owned partitions add up to fewer.",
		}),
		groupRebalances: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assetjoblog_group_rebalances_total",
			Help: "Group rebalances this replica took part in.",
		}),
		groupGeneration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "assetjoblog_group_generation",
			Help: "Generation of the replica group this replica last joined.",
		}),
		groupRestore: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "assetjoblog_group_restore_duration_seconds",
			Help:    "Time to restore the checkpoints of newly assigned state partitions after a rebalance.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 16),
		}),
	}
	for _, kind := range ipsErrorKinds {
		m.ipsErrors.WithLabelValues(kind)
	}
	for _, outcome := range []string{roundOK, roundIncomplete, roundFailed, roundInterrupted} {
		m.rounds.WithLabelValues(outcome)
	}
	for _, target := range []string{"ips", "kafka"} {
		m.retries.WithLabelValues(target)
	}
	m.futureDated = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "assetjoblog_future_dated_entries_total",
		Help: "Entries dated further ahead of the producer's clock than Config.FutureTolerance when first published (each is still published once).",
	})
	m.deadLetters = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "assetjoblog_dead_letters_total",
		Help: "Entries that could not be published, by reason (malformed, too_large): sent to the dead-letter topic, or logged at error level without one.",
	}, []string{"reason"})
	for _, r := range []DeadLetterReason{ReasonMalformed, ReasonTooLarge} {
		m.deadLetters.WithLabelValues(string(r))
	}
	m.reconcileRead = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "assetjoblog_reconcile_records_read_total",
		Help: "Records read back from the topic to reconcile writes of unknown outcome and, at start, the uncommitted tail.",
	})
	m.reconcileTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "assetjoblog_reconcile_duration_seconds",
		Help:    "Duration of a read-back of the topic (at start, after a write of unknown outcome).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
	})
	m.dupsAvoided = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "assetjoblog_duplicates_avoided_total",
		Help: "Entries found already on the topic by a read-back, and therefore not sent again.",
	})
	m.ambiguous = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "assetjoblog_publish_ambiguous_total",
		Help: "Records of failed writes whose outcome was unknown (reconciled before being sent again).",
	})
	checkpointAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "assetjoblog_checkpoint_age_seconds",
		Help: "Seconds since the last successful checkpoint commit (0 before the first).",
	}, func() float64 {
		last := m.lastCommitNanos.Load()
		if last == 0 {
			return 0
		}
		return time.Since(time.Unix(0, last)).Seconds()
	})
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "assetjoblog_ready",
		Help: "1 when the producer is ready (a round has completed and the broker answers), as /readyz reports; 0 otherwise.",
	}, func() float64 {
		if check := m.readiness.Load(); check != nil && (*check)() {
			return 1
		}
		return 0
	})
	reg.MustRegister(m.ipsCalls, m.ipsLatency, m.ipsErrors, m.published, m.publishErrors, m.publishLatency,
		m.freshness, m.retries, m.roundDuration, m.rounds, m.lastSuccess, m.lastDuration, m.pollInterval, m.assetsFailed,
		m.roundAssets, m.roundCalls, m.assetsTouched, m.jobsInFlight, m.futureDated, m.deadLetters, m.commits, m.commitErrors, checkpointAge, ready,
		m.groupPartitions, m.groupAssets, m.groupStatePartitions, m.groupRebalances, m.groupGeneration, m.groupRestore,
		m.catalogAssets, m.backfillTotal, m.backfillDone,
		m.reconcileRead, m.reconcileTime, m.dupsAvoided, m.ambiguous)
	return m
}

// ObserveIPSCall records one IPS call.
func (m *Metrics) ObserveIPSCall(operation, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.ipsCalls.WithLabelValues(operation, outcome).Inc()
	m.ipsLatency.WithLabelValues(operation).Observe(d.Seconds())
}

// ObserveIPSError records one failed IPS call by kind: authentication,
// authorization, api or unknown_fault for SOAP faults, transport,
// malformed, too_large, or other.
func (m *Metrics) ObserveIPSError(kind string) {
	if m != nil {
		m.ipsErrors.WithLabelValues(kind).Inc()
	}
}

// SetReadinessCheck makes assetjoblog_ready report check's answer at each
// scrape. check must be safe for concurrent use and return promptly.
func (m *Metrics) SetReadinessCheck(check func() bool) {
	if m != nil {
		m.readiness.Store(&check)
	}
}

// GroupAssigned records the assignment this replica received when it joined
// group generation generation: partitions of the state topic and the assets
// they hold.
func (m *Metrics) GroupAssigned(generation, partitions, assets int) {
	if m == nil {
		return
	}
	m.groupGeneration.Set(float64(generation))
	m.groupPartitions.Set(float64(partitions))
	m.groupAssets.Set(float64(assets))
}

// GroupStatePartitions records the number of partitions of the state topic.
func (m *Metrics) GroupStatePartitions(n int) {
	if m != nil {
		m.groupStatePartitions.Set(float64(n))
	}
}

// GroupRebalance records one group rebalance.
func (m *Metrics) GroupRebalance() {
	if m != nil {
		m.groupRebalances.Inc()
	}
}

// GroupRestored records how long restoring the checkpoints of newly
// assigned state partitions took.
func (m *Metrics) GroupRestored(d time.Duration) {
	if m != nil {
		m.groupRestore.Observe(d.Seconds())
	}
}

func (m *Metrics) retry(target string) {
	if m != nil {
		m.retries.WithLabelValues(target).Inc()
	}
}

// acknowledged records entries the broker acknowledged at ack: their count
// and each one's delay from its logDate.
func (m *Metrics) acknowledged(entries []*AssetJobLog, ack time.Time) {
	if m == nil {
		return
	}
	m.published.Add(float64(len(entries)))
	for _, e := range entries {
		m.freshness.Observe(max(ack.Sub(e.LogDate).Seconds(), 0))
	}
}

func (m *Metrics) publishAttempt(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.publishLatency.Observe(d.Seconds())
	if err != nil {
		m.publishErrors.Inc()
	}
}

func (m *Metrics) futureDatedEntry() {
	if m != nil {
		m.futureDated.Inc()
	}
}

func (m *Metrics) deadLetter(reason DeadLetterReason) {
	if m != nil {
		m.deadLetters.WithLabelValues(string(reason)).Inc()
	}
}

func (m *Metrics) committed(at time.Time) {
	if m != nil {
		m.commits.Inc()
		m.lastCommitNanos.Store(at.UnixNano())
	}
}

func (m *Metrics) commitFailed() {
	if m != nil {
		m.commitErrors.Inc()
	}
}

func (m *Metrics) setPollInterval(d time.Duration) {
	if m != nil {
		m.pollInterval.Set(d.Seconds())
	}
}

// round records a round's figures and its outcome; end is when it ended.
func (m *Metrics) round(s RoundStats, outcome string, end time.Time) {
	if m == nil {
		return
	}
	m.roundDuration.Observe(s.Duration.Seconds())
	m.rounds.WithLabelValues(outcome).Inc()
	m.lastDuration.Set(s.Duration.Seconds())
	if outcome == roundOK {
		m.lastSuccess.Set(float64(end.UnixNano()) / 1e9)
	}
	m.roundAssets.Set(float64(s.Assets))
	m.assetsFailed.Add(float64(s.AssetsFailed))
	m.roundCalls.WithLabelValues("getAssetJobLogs").Set(float64(s.AssetCalls))
	m.roundCalls.WithLabelValues("getJobLogs").Set(float64(s.JobLogCalls))
	m.roundCalls.WithLabelValues("getJobLogDetails").Set(float64(s.JobDetailCalls))
	m.roundCalls.WithLabelValues("searchAssets").Set(float64(s.CatalogCalls))
	if s.Discovery {
		m.assetsTouched.Set(float64(s.Assets))
		m.jobsInFlight.Set(float64(s.JobsRunning))
	}
}

func (m *Metrics) catalogListed(n int) {
	if m != nil {
		m.catalogAssets.Set(float64(n))
	}
}

func (m *Metrics) backfillProgress(done, total int) {
	if m != nil {
		m.backfillDone.Set(float64(done))
		m.backfillTotal.Set(float64(total))
	}
}

func (m *Metrics) reconciled(records int, d time.Duration) {
	if m != nil {
		m.reconcileRead.Add(float64(records))
		m.reconcileTime.Observe(d.Seconds())
	}
}

func (m *Metrics) duplicatesAvoided(n int) {
	if m != nil && n > 0 {
		m.dupsAvoided.Add(float64(n))
	}
}

func (m *Metrics) publishAmbiguous(n int) {
	if m != nil && n > 0 {
		m.ambiguous.Add(float64(n))
	}
}
