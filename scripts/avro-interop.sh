#!/usr/bin/env bash
# avro-interop.sh checks the Avro contract of internal/avro with two other
# Avro implementations:
#   - Java (Apache Avro, test/avro-java, built with Maven): the schema's
#     Parsing Canonical Form and parsingFingerprint64 against
#     internal/avro/testdata/canonical.json and fingerprint.txt, and every
#     golden vector decoded with BinaryMessageDecoder + SchemaStore
#     (single-object) or GenericDatumReader (Confluent), field by field
#     against its input JSON;
#   - Python (fastavro, test/python/decode_golden.py, in the venv of
#     scripts/venv.sh): the framing bytes of every vector and its body
#     decoded with schemaless_reader, field by field.
# It exits non-zero on any mismatch.
#
# Environment:
#   CACHE_DIR         caches (venv) directory, default .cache
#   MAVEN_REPO_LOCAL  Maven local repository, default Maven's (~/.m2/repository)
#   SKIP_JAVA=1 / SKIP_PYTHON=1  run only the other check
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
schema=$root/schemas/assetjoblog.avsc
testdata=$root/internal/avro/testdata
schema_id=7 # the id the *.confluent.bin vectors carry (golden_test.go)

ls "$testdata"/*.single.bin "$testdata"/*.confluent.bin >/dev/null
echo "avro-interop: schema $schema"
echo "avro-interop: vectors $(cd "$testdata" && ls ./*.bin | tr '\n' ' ')"

if [[ ${SKIP_JAVA:-} != 1 ]]; then
	echo "avro-interop: Java check (Apache Avro via Maven)"
	mvn_args=(-q -B --no-transfer-progress -f "$root/test/avro-java/pom.xml")
	if [[ -n ${MAVEN_REPO_LOCAL:-} ]]; then
		mvn_args+=("-Dmaven.repo.local=$MAVEN_REPO_LOCAL")
	fi
	mvn "${mvn_args[@]}" compile exec:java -Dexec.args="$schema $testdata $schema_id"
fi

if [[ ${SKIP_PYTHON:-} != 1 ]]; then
	echo "avro-interop: Python check (fastavro)"
	py=$("$root/scripts/venv.sh")
	"$py" "$root/test/python/decode_golden.py" "$schema" "$testdata" "$schema_id"
fi

echo "avro-interop: all checks passed"
