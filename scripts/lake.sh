#!/usr/bin/env bash
# lake.sh prepares and runs the data-lake path of docs/data-lake.md: the
# PySpark job lake/spark/land_topic.py (Kafka -> from_avro -> Delta Lake MERGE
# on eventId) and the independent table check lake/check_table.py (delta-rs,
# no Spark). Python packages come from PyPI (lake/requirements.txt) into a
# venv of their own; the Spark Kafka, Avro and Delta jars come from Maven
# Central (lake/pom.xml). Both are cached, so Spark never downloads anything
# at run time.
#
# Usage:
#   scripts/lake.sh setup           create or refresh the venv and fetch the jars (each once)
#   scripts/lake.sh env             setup, then print the export lines for the integration suite:
#                                   ASSETJOBLOG_LAKE_PYTHON, ASSETJOBLOG_LAKE_JARS
#   scripts/lake.sh land ARGS...    setup, then run lake/spark/land_topic.py ARGS (--help for them)
#   scripts/lake.sh check ARGS...   setup, then run lake/check_table.py ARGS (--help for them)
#
# Environment:
#   CACHE_DIR         directory for caches (default .cache under the repository root)
#   PYTHON            interpreter used to create the venv (default python3)
#   MAVEN_REPO_LOCAL  Maven local repository (default Maven's own, ~/.m2/repository)
#   JAVA_HOME         Java 17 or newer for Spark (default: java on PATH)
#
# Files, under ${CACHE_DIR}:
#   lake-venv/   the venv (pip runs only when lake/requirements.txt changed)
#   lake-jars/   the jars (Maven runs only when lake/pom.xml changed)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${CACHE_DIR:-.cache}
case $cache_dir in
/*) ;;
*) cache_dir=$root/$cache_dir ;;
esac
venv=$cache_dir/lake-venv
jars=$cache_dir/lake-jars
req=$root/lake/requirements.txt
pom=$root/lake/pom.xml
python=${PYTHON:-python3}

say() { echo "lake: $*" >&2; }
die() {
	echo "lake: error: $*" >&2
	exit 1
}
now_ms() { date +%s%3N; }

check_java() {
	local j v major
	if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
		j=$JAVA_HOME/bin/java
	else
		j=$(command -v java) || die "java not found: Spark 4 needs a Java 17+ runtime (apt-get install openjdk-17-jre-headless)"
	fi
	v=$("$j" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
	major=${v%%.*}
	[[ $major =~ ^[0-9]+$ ]] || die "cannot read the version of $j (got '$v')"
	((major >= 17)) || die "Spark 4 needs Java 17 or newer; $j is $v"
}

setup_venv() {
	local want stamp t0
	want=$(sha256sum "$req" | cut -d' ' -f1)
	stamp=$venv/.requirements.sha256
	if [[ -x $venv/bin/python && -f $stamp && $(cat "$stamp") == "$want" ]]; then
		return 0
	fi
	t0=$(now_ms)
	if [[ ! -x $venv/bin/python ]]; then
		say "creating $venv"
		mkdir -p "$cache_dir"
		"$python" -m venv "$venv" >&2
	fi
	say "installing $(basename "$req") (pyspark, delta-spark, deltalake)"
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2 ||
		die "pip could not install $req"
	echo "$want" >"$stamp"
	say "venv ready in $(($(now_ms) - t0)) ms"
}

fetch_jars() {
	local want stamp t0 args
	want=$(sha256sum "$pom" | cut -d' ' -f1)
	stamp=$jars/.fetched
	if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven) to fetch the Spark jars"
	t0=$(now_ms)
	say "fetching the Spark Kafka, Avro and Delta jars from Maven Central into $jars"
	rm -rf "$jars"
	args=(-q -B -Dstyle.color=never -f "$pom" -DoutputDirectory="$jars")
	if [[ -n ${MAVEN_REPO_LOCAL:-} ]]; then
		args+=(-Dmaven.repo.local="$MAVEN_REPO_LOCAL")
	fi
	mvn "${args[@]}" dependency:copy-dependencies >&2 || die "maven could not fetch the jars of $pom"
	local want_jar
	for want_jar in spark-sql-kafka-0-10 spark-avro delta-spark kafka-clients; do
		compgen -G "$jars/${want_jar}*.jar" >/dev/null || die "$want_jar jar missing from $jars after the fetch"
	done
	echo "$want" >"$stamp"
	say "fetched $(find "$jars" -name '*.jar' | wc -l) jars in $(($(now_ms) - t0)) ms"
}

setup() {
	check_java
	setup_venv
	fetch_jars
}

case ${1:-} in
setup) setup ;;
env)
	setup
	echo "export ASSETJOBLOG_LAKE_PYTHON=$venv/bin/python ASSETJOBLOG_LAKE_JARS=$jars"
	;;
land)
	setup
	ASSETJOBLOG_LAKE_JARS=$jars exec "$venv/bin/python" "$root/lake/spark/land_topic.py" "${@:2}"
	;;
check)
	setup
	exec "$venv/bin/python" "$root/lake/check_table.py" "${@:2}"
	;;
*)
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
