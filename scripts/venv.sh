#!/usr/bin/env bash
# venv.sh creates or refreshes the Python virtualenv used by the interop and
# consumer checks, at ${CACHE_DIR:-.cache}/venv (relative to the repository
# root), from test/python/requirements.txt, and prints the path of its python.
#
# It is idempotent and fast when nothing changed: the requirements file's hash
# is stored in the venv and pip runs only when it differs. All progress goes to
# stderr so that `PY=$(scripts/venv.sh)` captures only the path.
#
# Environment:
#   CACHE_DIR  directory for caches (default .cache under the repository root)
#   PYTHON     interpreter used to create the venv (default python3)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${CACHE_DIR:-.cache}
case $cache_dir in
/*) ;;
*) cache_dir=$root/$cache_dir ;;
esac
venv=$cache_dir/venv
req=$root/test/python/requirements.txt
python=${PYTHON:-python3}

want=$(sha256sum "$req" | cut -d' ' -f1)
stamp=$venv/.requirements.sha256

if [[ ! -x $venv/bin/python ]]; then
	echo "venv: creating $venv" >&2
	mkdir -p "$cache_dir"
	"$python" -m venv "$venv" >&2
fi

if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
	echo "venv: installing $(basename "$req")" >&2
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
	echo "$want" >"$stamp"
else
	echo "venv: up to date ($venv)" >&2
fi

echo "$venv/bin/python"
