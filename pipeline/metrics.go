package pipeline

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus collectors of the producer. All names start
// with assetjoblog_. A nil *Metrics records nothing.
type Metrics struct {
	ipsCalls        *prometheus.CounterVec
	ipsLatency      *prometheus.HistogramVec
	published       prometheus.Counter
	publishErrors   prometheus.Counter
	retries         *prometheus.CounterVec
	roundDuration   prometheus.Histogram
	assetsFailed    prometheus.Counter
	roundAssets     prometheus.Gauge
	roundCalls      *prometheus.GaugeVec
	assetsTouched   prometheus.Gauge
	jobsInFlight    prometheus.Gauge
	futureDated     prometheus.Counter
	deadLetters     *prometheus.CounterVec
	lastCommitNanos atomic.Int64
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
		published: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assetjoblog_entries_published_total",
			Help: "Entries acknowledged by the broker (re-publications after a crash included).",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assetjoblog_publish_errors_total",
			Help: "Failed publish attempts to Kafka (each retry counts).",
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
	checkpointAge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "assetjoblog_checkpoint_age_seconds",
		Help: "Seconds since the last checkpoint commit (0 before the first).",
	}, func() float64 {
		last := m.lastCommitNanos.Load()
		if last == 0 {
			return 0
		}
		return time.Since(time.Unix(0, last)).Seconds()
	})
	reg.MustRegister(m.ipsCalls, m.ipsLatency, m.published, m.publishErrors, m.retries, m.roundDuration,
		m.assetsFailed, m.roundAssets, m.roundCalls, m.assetsTouched, m.jobsInFlight, m.futureDated, m.deadLetters, checkpointAge)
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

func (m *Metrics) retry(target string) {
	if m != nil {
		m.retries.WithLabelValues(target).Inc()
	}
}

func (m *Metrics) publishedEntries(n int) {
	if m != nil {
		m.published.Add(float64(n))
	}
}

func (m *Metrics) publishError() {
	if m != nil {
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
		m.lastCommitNanos.Store(at.UnixNano())
	}
}

func (m *Metrics) round(s RoundStats) {
	if m == nil {
		return
	}
	m.roundDuration.Observe(s.Duration.Seconds())
	m.roundAssets.Set(float64(s.Assets))
	m.assetsFailed.Add(float64(s.AssetsFailed))
	m.roundCalls.WithLabelValues("getAssetJobLogs").Set(float64(s.AssetCalls))
	m.roundCalls.WithLabelValues("getJobLogs").Set(float64(s.JobLogCalls))
	m.roundCalls.WithLabelValues("getJobLogDetails").Set(float64(s.JobDetailCalls))
	if s.Discovery {
		m.assetsTouched.Set(float64(s.Assets))
		m.jobsInFlight.Set(float64(s.JobsRunning))
	}
}
