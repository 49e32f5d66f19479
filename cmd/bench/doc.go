// Command bench measures the producer against the targets of its design on
// the machine it runs on, and prints a table of figures (median of -runs
// repetitions, target, met or not) and writes them as JSON.
//
// Scenarios (select with -scenarios, comma-separated):
//
//	cpu       full pipeline entries/s and CPU per entry over 1,000-entry
//	          responses, beside the floor measured in the same run: decoding
//	          the same response bodies only, and publishing the same
//	          pre-encoded records only through internal/kafka's Sink.
//	backfill  one round over 2,000 assets × 20 entries with 50 ms per IPS
//	          call and concurrency 16, against the ideal assets/16 × 50 ms.
//	fresh     continuous discovery mode, 1 s poll interval, the simulator
//	          adding 50 entries/s: delay from an entry's creation in the
//	          simulator to its arrival in Kafka, p50 and p99.
//	api       IPS calls per round over a 100,000-asset catalog with about
//	          50 active assets per round, discovery mode against assets mode.
//	memory    peak RSS (VmHWM) of the producer program tracking 100,000
//	          assets with 1,000-entry logs, over a time-bounded sample of one
//	          round.
//	catalog   -discover -backfill of 100,000 assets by the producer program
//	          (searchAssets and getAssetJobLogs calls against their ideals,
//	          wall time against the IPS-latency ideal, peak RSS), and the IPS
//	          calls per discovery round while a job touching 20,000 assets
//	          runs, gets new rows and ends.
//
// The IPS simulator runs as a child process (cmd/ips-sim, built once with
// go build into a temporary directory) where CPU time is measured, so that
// its CPU is not counted as the pipeline's; scenarios that need the
// simulator's counters or its activity clock run it in-process. The Kafka
// broker is an embedded kfake cluster in the bench process unless -brokers
// names a real one; topics are then created per run.
//
// CPU time is read with getrusage and /proc, so the command runs on Linux
// only. It deliberately does not compare against earlier results; run
// scripts/bench.sh, which also runs the go test benchmarks through
// benchstat.
package main
