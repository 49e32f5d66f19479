#!/usr/bin/env bash
# crashloop.sh kills a -once backfill of the producer with SIGKILL at random
# moments, restarting it on the same state each time, then lets it finish,
# and checks that every IPS entry reached the topic exactly once, and that
# each malformed entry of the catalog (the first of every
# CRASHLOOP_MALFORMED-th asset, default 500) reached the dead-letter topic
# exactly once. It prints the missing and duplicate counts (all 0 when it
# passes) and exits non-zero if any entry is missing or duplicated, a record
# is unexpected, or the state file does not open cleanly afterwards.
#
# It runs the long form of TestCrashLoop (cmd/producer/crash_test.go): the
# test builds the producer binary, serves IPS from the in-process simulator
# and drives the producer as a child process.
#
# Usage:
#   scripts/crashloop.sh [KILLS [ASSETS]]    defaults: 20 kills, 8000 assets (3 entries each), 20ms per IPS call
#
# Environment:
#   CRASHLOOP_BROKERS  comma-separated plaintext brokers to use instead of an
#                      embedded broker, e.g. the one of `scripts/kafka.sh up`
#                      (127.0.0.1:19092); a fresh topic is created per run
#   CRASHLOOP_SEED     seed of the kill moments, to replay a run
#   CRASHLOOP_MALFORMED  every how many assets one entry is malformed (0: none)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kills=${1:-20}
assets=${2:-8000}
case $kills$assets in
*[!0-9]*) echo "usage: $0 [KILLS [ASSETS]]" >&2; exit 2 ;;
esac

log=$(mktemp)
trap 'rm -f "$log"' EXIT

echo "crashloop: $kills SIGKILLs during a -once backfill of $assets assets${CRASHLOOP_BROKERS:+ on $CRASHLOOP_BROKERS}" >&2
status=0
(
	cd "$root"
	CRASHLOOP_KILLS=$kills CRASHLOOP_ASSETS=$assets CRASHLOOP_LATENCY_MS=${CRASHLOOP_LATENCY_MS:-20} \
		CRASHLOOP_MALFORMED=${CRASHLOOP_MALFORMED:-500} go test -count=1 -timeout 30m -run '^TestCrashLoop$' -v ./cmd/producer/
) >"$log" 2>&1 || status=$?

grep -E 'crash_test.go|^(--- |ok|FAIL)' "$log" | sed 's/^ *//' >&2 || true
summary=$(grep -o '[0-9]* SIGKILLs; .*' "$log" || true)
dups=$(sed -n 's/.*, \([0-9]*\) duplicates.*/\1/p' <<<"$summary")
if [[ $status -ne 0 || -z $summary ]]; then
	echo "crashloop: FAILED (exit $status${dups:+, $dups duplicates}); full output:" >&2
	tail -n 60 "$log" >&2
	exit 1
fi
letters=$(grep -o 'dead letters: .*' "$log" | head -n 1 || true)
echo "$summary"
grep -o 'start-up read-back after a kill.*' "$log" || true
echo "0 missing, $dups duplicates"
echo "$letters"
