#!/usr/bin/env bash
# promtool.sh checks the Prometheus alerting rules in deploy/prometheus:
# `promtool check rules` on alerts.yml, then `promtool test rules` on every
# *_test.yml beside it. promtool comes from Debian's prometheus package,
# installed (apt-get, as root) only when no promtool is on the PATH.
#
# Usage: scripts/promtool.sh [promtool arguments...]
#   With no argument it runs both checks; with arguments it runs promtool
#   with them (after installing it if needed), e.g. scripts/promtool.sh --version.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rules=$root/deploy/prometheus

if ! command -v promtool >/dev/null 2>&1; then
	if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
		echo "promtool.sh: promtool is missing; install it (Debian: apt-get install prometheus, as root) or put it on the PATH" >&2
		exit 1
	fi
	echo "promtool.sh: installing Debian's prometheus package for promtool" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq --no-install-recommends prometheus >&2
	# The package starts its server where an init system runs; only the
	# promtool binary is needed here.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
		systemctl stop prometheus || true
	fi
fi

if (($# > 0)); then
	exec promtool "$@"
fi

promtool --version 2>&1 | head -1 >&2
cd "$rules"
promtool check rules alerts.yml
tests=(*_test.yml)
if [[ ! -e ${tests[0]} ]]; then
	echo "promtool.sh: no rule test (*_test.yml) in $rules" >&2
	exit 1
fi
promtool test rules "${tests[@]}"
