#!/usr/bin/env bash
# Runs the benchmarks of assetjoblog: the go test benchmarks of the hot
# paths (summarised with benchstat when it is available) and the scenario
# command cmd/bench against the IPS simulator and a Kafka broker.
#
#   scripts/bench.sh                 full run (about 10 minutes on 2 cores)
#   scripts/bench.sh -quick          short smoke run
#   scripts/bench.sh -brokers 127.0.0.1:19092   use a real broker (scripts/kafka.sh up)
#
# Any other argument is passed to cmd/bench. Results go to bench-results/:
# gotest.txt (raw go test -bench output), gotest-benchstat.txt and bench.json.
set -euo pipefail
cd "$(dirname "$0")/.."

out=bench-results
mkdir -p "$out"
quick=0
for a in "$@"; do
	[[ "$a" == "-quick" || "$a" == "--quick" ]] && quick=1
done
count=6 benchtime=300ms
if ((quick)); then count=1 benchtime=100ms; fi

echo "== go test benchmarks (count=$count, benchtime=$benchtime)" >&2
go test -run '^$' -bench . -benchmem -count "$count" -benchtime "$benchtime" \
	./pipeline/ ./cmd/bench/ ./internal/ips/ ./internal/avro/ ./internal/ips/ipstest/ \
	| tee "$out/gotest.txt" >&2

# benchstat reports medians with confidence intervals over the -count runs.
benchstat_cmd=()
if command -v benchstat >/dev/null 2>&1; then
	benchstat_cmd=(benchstat)
elif go run golang.org/x/perf/cmd/benchstat@v0.0.0-20250813145418-2f7363a06fe1 -h >/dev/null 2>&1; then
	benchstat_cmd=(go run golang.org/x/perf/cmd/benchstat@v0.0.0-20250813145418-2f7363a06fe1)
fi
if ((${#benchstat_cmd[@]})); then
	"${benchstat_cmd[@]}" "$out/gotest.txt" | tee "$out/gotest-benchstat.txt" >&2
else
	echo "benchstat not available; raw results are in $out/gotest.txt" >&2
fi

echo "== scenarios (go run ./cmd/bench $*)" >&2
go run ./cmd/bench -out "$out/bench.json" "$@" | tee "$out/bench.txt"
