#!/usr/bin/env bash
# kafka.sh runs a real single-node Apache Kafka 4 broker (KRaft, combined
# broker and controller, no ZooKeeper) on 127.0.0.1 for the integration suite,
# from jars fetched from Maven Central (test/kafka/pom.xml) and the machine's
# Java 17 or newer. No Docker, no other download.
#
# Usage:
#   scripts/kafka.sh up             fetch the jars (once), format storage (once), start, wait until it answers
#   scripts/kafka.sh down           stop cleanly (SIGTERM, wait, then SIGKILL); data is kept
#   scripts/kafka.sh status         say whether it runs; exit 1 when it does not
#   scripts/kafka.sh topic NAME [PARTITIONS]
#                                   create a topic (replication factor 1) unless it exists
#   scripts/kafka.sh kill9          SIGKILL the broker (crash test); data is kept
#   scripts/kafka.sh freeze SECONDS SIGSTOP the broker, wait, SIGCONT it: requests sent meanwhile are
#                                   handled after their clients gave up on them
#   scripts/kafka.sh restart        stop (or reap a killed broker) and start again on the same data
#   scripts/kafka.sh clean          down, then delete the data directory
#   scripts/kafka.sh env            print the export lines for the integration suite: KAFKA_BROKERS
#                                   (plaintext), and KAFKA_SASL_SSL_BROKERS, KAFKA_CA_FILE, KAFKA_SASL_USER,
#                                   KAFKA_SASL_PASSWORD_FILE (the TLS + SASL listener and its test credentials)
#
#   scripts/kafka.sh cluster up     a three-node KRaft cluster (each node broker and controller, plaintext):
#                                   replication factor 3, min.insync.replicas 2, unclean election off
#   scripts/kafka.sh cluster down | status | clean
#   scripts/kafka.sh cluster kill9 N | restart N
#                                   SIGKILL node N (1-3), or start it again on its data
#   scripts/kafka.sh cluster env    print KAFKA_CLUSTER_BROKERS and KAFKA_CLUSTER_SCRIPT for the suite
#
# Environment:
#   CACHE_DIR      directory for caches (default .cache under the repository root)
#   KAFKA_PORT     PLAINTEXT listener port (default 19092); the controller uses KAFKA_PORT+1 and
#                  the SASL_SSL listener KAFKA_PORT+2
#   KAFKA_CLUSTER_PORT  first port of the cluster (default 19200): node N listens on
#                  KAFKA_CLUSTER_PORT+2(N-1) and its controller on the port after
#   KAFKA_CLUSTER_HEAP  JVM heap options of each cluster node (default "-Xms128m -Xmx512m")
#   KAFKA_VERSION  org.apache.kafka version to fetch (default: the one in test/kafka/pom.xml)
#   KAFKA_HEAP     JVM heap options (default "-Xms256m -Xmx1g")
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to answer (default 90)
#   MAVEN_REPO_LOCAL     Maven local repository (default Maven's own, ~/.m2/repository)
#   JAVA           java binary (default: java on PATH, or $JAVA_HOME/bin/java)
#
# Files, under ${CACHE_DIR}:
#   kafka-libs/            the broker's jars (skipped when present for the same version)
#   kafka-data/logs/       the broker's log.dirs and KRaft metadata log
#   kafka-data/server.properties, log4j2*.properties, kafka.pid, kafka.log
#   kafka-data/tls/        the broker's self-signed certificate (broker.p12, ca.pem for clients) and
#                          the test user's SASL password, made once with the JDK's keytool
#   kafka-cluster/node-N/  each cluster node's server.properties, logs/, kafka.pid, kafka.log
#
# The broker has two client listeners: PLAINTEXT on KAFKA_PORT, and SASL_SSL on
# KAFKA_PORT+2 (TLS with the certificate above; SASL PLAIN, SCRAM-SHA-256 and
# SCRAM-SHA-512 for the user "assetjoblog"). It creates no topic by itself
# (auto.create.topics.enable=false): create them with `topic`.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir=${CACHE_DIR:-.cache}
case $cache_dir in
/*) ;;
*) cache_dir=$root/$cache_dir ;;
esac

port=${KAFKA_PORT:-19092}
cport=$((port + 1))
sport=$((port + 2))
bootstrap=127.0.0.1:$port
secure_bootstrap=127.0.0.1:$sport
libs=$cache_dir/kafka-libs
data=$cache_dir/kafka-data
props=$data/server.properties
log4j=$data/log4j2.properties
log4j_tools=$data/log4j2-tools.properties
pidfile=$data/kafka.pid
logfile=$data/kafka.log
pom=$root/test/kafka/pom.xml
tls=$data/tls
sasl_user=assetjoblog
heap=${KAFKA_HEAP:--Xms256m -Xmx1g}
start_timeout=${KAFKA_START_TIMEOUT:-90}

say() { echo "kafka: $*" >&2; }
die() {
	echo "kafka: error: $*" >&2
	exit 1
}

now_ms() { date +%s%3N; }
elapsed() { echo "$(($(now_ms) - $1)) ms"; }

java_bin() {
	if [[ -n ${JAVA:-} ]]; then
		echo "$JAVA"
	elif [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
		echo "$JAVA_HOME/bin/java"
	else
		command -v java || die "java not found: install a Java 17+ runtime (apt-get install openjdk-17-jre-headless)"
	fi
}

check_java() {
	local j v major
	j=$(java_bin)
	v=$("$j" -version 2>&1 | awk -F'"' '/version/ {print $2; exit}')
	major=${v%%.*}
	[[ $major =~ ^[0-9]+$ ]] || die "cannot read the version of $j (got '$v')"
	((major >= 17)) || die "Kafka 4 needs Java 17 or newer; $j is $v"
}

# wanted_version prints the Kafka version to fetch.
wanted_version() {
	if [[ -n ${KAFKA_VERSION:-} ]]; then
		echo "$KAFKA_VERSION"
	else
		sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom" | head -n1
	fi
}

# fetch copies the broker's jars from Maven Central into $libs unless the same
# version is already there.
fetch() {
	local version stamp want t0 args
	version=$(wanted_version)
	[[ -n $version ]] || die "no kafka.version in $pom"
	# The stamp holds the version and the pom's hash: a changed pom re-fetches.
	stamp=$libs/.fetched
	want="$version $(sha256sum "$pom" | cut -d' ' -f1)"
	if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
		return 0
	fi
	command -v mvn >/dev/null || die "mvn not found: install Maven (apt-get install maven) to fetch the Kafka jars"
	say "fetching Apache Kafka $version jars from Maven Central into $libs"
	t0=$(now_ms)
	rm -rf "$libs"
	args=(-q -B -Dstyle.color=never -f "$pom" -Dkafka.version="$version" -DoutputDirectory="$libs")
	if [[ -n ${MAVEN_REPO_LOCAL:-} ]]; then
		args+=(-Dmaven.repo.local="$MAVEN_REPO_LOCAL")
	fi
	mvn "${args[@]}" dependency:copy-dependencies >&2 || die "maven could not fetch the Kafka $version jars"
	[[ -f $libs/kafka_2.13-$version.jar ]] || die "kafka_2.13-$version.jar missing from $libs after the fetch"
	echo "$want" >"$stamp"
	say "fetched $(find "$libs" -name '*.jar' | wc -l) jars in $(elapsed "$t0")"
}

installed_version() {
	local jar
	jar=$(find "$libs" -maxdepth 1 -name 'kafka_2.13-*.jar' 2>/dev/null | head -n1)
	[[ -n $jar ]] || return 1
	jar=${jar##*/kafka_2.13-}
	echo "${jar%.jar}"
}

classpath() { echo "$libs/*"; }

# run_class runs a Kafka command line tool class, quietly.
run_class() {
	"$(java_bin)" -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto \
		-Dlog4j2.configurationFile="$log4j_tools" -cp "$(classpath)" "$@"
}

# make_tls creates, once, a self-signed certificate for 127.0.0.1 in a
# PKCS12 keystore (the JDK's keytool), its PEM for clients, and the SASL
# password of the test user: test credentials of this local broker.
make_tls() {
	[[ -f $tls/broker.p12 && -f $tls/ca.pem && -f $tls/sasl-password ]] && return 0
	rm -rf "$tls"
	mkdir -p "$tls"
	chmod 700 "$tls"
	head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$tls/storepass"
	head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$tls/sasl-password"
	local keytool pw
	keytool=$(dirname "$(readlink -f "$(java_bin)")")/keytool
	pw=$(cat "$tls/storepass")
	"$keytool" -genkeypair -alias broker -keyalg RSA -keysize 2048 -validity 3650 -dname "CN=localhost" \
		-ext "SAN=ip:127.0.0.1,dns:localhost" -keystore "$tls/broker.p12" -storetype PKCS12 \
		-storepass "$pw" -keypass "$pw" >/dev/null 2>&1 || die "keytool could not create the broker certificate"
	"$keytool" -exportcert -alias broker -rfc -keystore "$tls/broker.p12" -storepass "$pw" \
		-file "$tls/ca.pem" >/dev/null 2>&1 || die "keytool could not export the broker certificate"
	say "created a TLS certificate for 127.0.0.1 and SASL credentials in $tls"
}

# write_broker_log4j writes a broker's log4j2 file: INFO to stdout
# (redirected to the node's log file), client and request chatter at WARN.
write_broker_log4j() {
	cat >"$1" <<EOF
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = STDOUT
logger.kafkaclients.name = org.apache.kafka.clients
logger.kafkaclients.level = warn
logger.request.name = kafka.request.logger
logger.request.level = warn
EOF
}

# write_tools_log4j writes the log4j2 file of the command line tools that
# kafka.sh runs: warnings and errors only, to stderr.
write_tools_log4j() {
	cat >"$1" <<EOF
status = warn
appender.err.type = Console
appender.err.name = STDERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = STDERR
EOF
}

write_config() {
	mkdir -p "$data"
	make_tls
	local pw sasl_pw
	pw=$(cat "$tls/storepass")
	sasl_pw=$(cat "$tls/sasl-password")
	cat >"$props.new" <<EOF
# Single-node KRaft broker for the assetjoblog integration suite (scripts/kafka.sh).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport,SASL_SSL://127.0.0.1:$sport
advertised.listeners=PLAINTEXT://127.0.0.1:$port,SASL_SSL://127.0.0.1:$sport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_pw";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$pw
ssl.key.password=$pw
log.dirs=$data/logs
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
auto.create.topics.enable=false
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=24
EOF
	write_broker_log4j "$log4j"
	write_tools_log4j "$log4j_tools"
	# A data directory formatted for another configuration (e.g. another
	# port) is not reused: the quorum would not match.
	if [[ -f $props ]] && ! cmp -s "$props" "$props.new"; then
		say "configuration changed; discarding $data/logs"
		rm -rf "$data/logs"
	fi
	mv "$props.new" "$props"
}

format_storage() {
	local id t0
	if [[ -f $data/logs/meta.properties ]]; then
		return 0
	fi
	t0=$(now_ms)
	id=$(run_class kafka.tools.StorageTool random-uuid | tail -n1)
	[[ -n $id ]] || die "StorageTool random-uuid printed nothing"
	local sasl_pw
	sasl_pw=$(cat "$tls/sasl-password")
	run_class kafka.tools.StorageTool format --config "$props" --cluster-id "$id" --ignore-formatted \
		--add-scram "SCRAM-SHA-256=[name=$sasl_user,password=$sasl_pw]" \
		--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_pw]" >&2 ||
		die "formatting $data/logs failed"
	say "formatted storage (cluster id $id) in $(elapsed "$t0")"
}

# broker_pid prints the pid of our running broker, or fails.
broker_pid() {
	local pid
	[[ -f $pidfile ]] || return 1
	pid=$(cat "$pidfile")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	# Make sure the pid is still our broker, not a reused number.
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $props" || return 1
	echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_broker() {
	local pid t0 deadline
	if pid=$(broker_pid); then
		say "already running (pid $pid) on $bootstrap"
		return 0
	fi
	if port_open "$port" || port_open "$cport" || port_open "$sport"; then
		die "port $port, $cport or $sport on 127.0.0.1 is in use by another process; set KAFKA_PORT"
	fi
	t0=$(now_ms)
	: >"$logfile"
	# shellcheck disable=SC2086 # heap holds several JVM options
	setsid nohup "$(java_bin)" $heap -XX:+UseG1GC -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$log4j" -Dkafka.logs.dir="$data" \
		-cp "$(classpath)" kafka.Kafka "$props" >>"$logfile" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$pidfile"
	deadline=$(($(date +%s) + start_timeout))
	until grep -q "Kafka Server started" "$logfile"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 40 "$logfile" >&2
			rm -f "$pidfile"
			die "the broker exited during start-up (log: $logfile)"
		fi
		if (($(date +%s) >= deadline)); then
			tail -n 40 "$logfile" >&2
			die "the broker did not start within ${start_timeout}s (log: $logfile)"
		fi
		sleep 0.2
	done
	# A real metadata request, from a real Kafka client.
	run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --list >/dev/null ||
		die "the broker started but does not answer a metadata request on $bootstrap (log: $logfile)"
	say "Apache Kafka $(installed_version) (KRaft, node 1) answers on $bootstrap, pid $pid, started in $(elapsed "$t0")"
}

stop_broker() {
	local pid i
	if ! pid=$(broker_pid); then
		rm -f "$pidfile"
		say "not running"
		return 0
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "broker (pid $pid) still running after 30s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$pidfile"
	say "stopped (pid $pid)"
}

cmd_up() {
	local t0
	t0=$(now_ms)
	check_java
	fetch
	write_config
	format_storage
	start_broker
	say "up in $(elapsed "$t0"); export KAFKA_BROKERS=$bootstrap"
}

cmd_status() {
	local pid
	if pid=$(broker_pid); then
		echo "running: Apache Kafka $(installed_version || echo '?') on $bootstrap (pid $pid, data $data)"
	else
		echo "not running (port $port)"
		return 1
	fi
}

cmd_topic() {
	local name=${1:-} partitions=${2:-1}
	[[ -n $name ]] || die "usage: kafka.sh topic NAME [PARTITIONS]"
	[[ $partitions =~ ^[1-9][0-9]*$ ]] || die "PARTITIONS must be a positive integer, got '$partitions'"
	broker_pid >/dev/null || die "the broker is not running: run scripts/kafka.sh up"
	run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create --if-not-exists \
		--topic "$name" --partitions "$partitions" --replication-factor 1 >&2
	say "topic $name ($partitions partitions) ready"
}

cmd_kill9() {
	local pid
	pid=$(broker_pid) || die "the broker is not running"
	kill -KILL "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
	say "killed (SIGKILL) pid $pid; data kept in $data"
}

cmd_freeze() {
	local pid secs=${1:-}
	[[ $secs =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "usage: kafka.sh freeze SECONDS"
	pid=$(broker_pid) || die "the broker is not running"
	kill -STOP "$pid"
	sleep "$secs"
	kill -CONT "$pid"
	say "froze pid $pid for ${secs}s"
}

cmd_restart() {
	stop_broker
	check_java
	[[ -f $props ]] || die "no configuration yet: run scripts/kafka.sh up"
	start_broker
}

cmd_clean() {
	stop_broker
	rm -rf "$data"
	say "removed $data"
}


# ---- three-node cluster ------------------------------------------------------

cluster_port=${KAFKA_CLUSTER_PORT:-19200}
cluster_dir=$cache_dir/kafka-cluster
cluster_heap=${KAFKA_CLUSTER_HEAP:--Xms128m -Xmx512m}
cluster_nodes=(1 2 3)

node_port() { echo $((cluster_port + 2 * ($1 - 1))); }
node_cport() { echo $((cluster_port + 2 * ($1 - 1) + 1)); }
node_dir() { echo "$cluster_dir/node-$1"; }
cluster_bootstrap() {
	local n out=""
	for n in "${cluster_nodes[@]}"; do out+="${out:+,}127.0.0.1:$(node_port "$n")"; done
	echo "$out"
}

# node_pid prints the pid of cluster node N, or fails.
node_pid() {
	local dir pid
	dir=$(node_dir "$1")
	[[ -f $dir/kafka.pid ]] || return 1
	pid=$(cat "$dir/kafka.pid")
	[[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "kafka.Kafka $dir/server.properties" || return 1
	echo "$pid"
}

# cluster_logging writes the log4j files of the nodes and of the tools.
cluster_logging() {
	mkdir -p "$cluster_dir"
	log4j_tools=$cluster_dir/log4j2-tools.properties
	write_broker_log4j "$cluster_dir/log4j2.properties"
	write_tools_log4j "$log4j_tools"
}

cluster_config() {
	local n dir voters="" props_new
	for n in "${cluster_nodes[@]}"; do voters+="${voters:+,}$n@127.0.0.1:$(node_cport "$n")"; done
	for n in "${cluster_nodes[@]}"; do
		dir=$(node_dir "$n")
		mkdir -p "$dir"
		props_new=$dir/server.properties.new
		cat >"$props_new" <<-PROPS
			# Node $n of the three-node KRaft cluster of the assetjoblog integration suite (scripts/kafka.sh cluster).
			process.roles=broker,controller
			node.id=$n
			controller.quorum.voters=$voters
			listeners=PLAINTEXT://127.0.0.1:$(node_port "$n"),CONTROLLER://127.0.0.1:$(node_cport "$n")
			advertised.listeners=PLAINTEXT://127.0.0.1:$(node_port "$n")
			controller.listener.names=CONTROLLER
			inter.broker.listener.name=PLAINTEXT
			listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
			log.dirs=$dir/logs
			num.partitions=3
			default.replication.factor=3
			min.insync.replicas=2
			unclean.leader.election.enable=false
			offsets.topic.replication.factor=3
			offsets.topic.num.partitions=1
			transaction.state.log.replication.factor=3
			transaction.state.log.min.isr=2
			transaction.state.log.num.partitions=1
			share.coordinator.state.topic.replication.factor=3
			share.coordinator.state.topic.min.isr=2
			auto.create.topics.enable=false
			group.initial.rebalance.delay.ms=0
			broker.session.timeout.ms=4000
			broker.heartbeat.interval.ms=500
			replica.lag.time.max.ms=5000
			num.network.threads=1
			num.io.threads=2
			num.recovery.threads.per.data.dir=1
			log.retention.hours=24
		PROPS
		if [[ -f $dir/server.properties ]] && ! cmp -s "$dir/server.properties" "$props_new"; then
			say "cluster node $n: configuration changed; discarding its data"
			rm -rf "${dir:?}/logs"
		fi
		mv "$props_new" "$dir/server.properties"
	done
}

cluster_format() {
	local n dir id
	if [[ ! -s $cluster_dir/cluster.id ]]; then
		run_class kafka.tools.StorageTool random-uuid | tail -n1 >"$cluster_dir/cluster.id"
	fi
	id=$(cat "$cluster_dir/cluster.id")
	[[ -n $id ]] || die "StorageTool random-uuid printed nothing"
	for n in "${cluster_nodes[@]}"; do
		dir=$(node_dir "$n")
		[[ -f $dir/logs/meta.properties ]] && continue
		run_class kafka.tools.StorageTool format --config "$dir/server.properties" --cluster-id "$id" \
			--ignore-formatted >&2 || die "formatting $dir/logs failed"
	done
}

# node_launch starts cluster node N in the background, without waiting.
node_launch() {
	local n=$1 dir
	dir=$(node_dir "$n")
	node_pid "$n" >/dev/null && return 0
	if port_open "$(node_port "$n")" || port_open "$(node_cport "$n")"; then
		die "port $(node_port "$n") or $(node_cport "$n") on 127.0.0.1 is in use by another process; set KAFKA_CLUSTER_PORT"
	fi
	: >"$dir/kafka.log"
	# shellcheck disable=SC2086 # the heap holds several JVM options
	setsid nohup "$(java_bin)" $cluster_heap -XX:+UseG1GC -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$cluster_dir/log4j2.properties" -Dkafka.logs.dir="$dir" \
		-cp "$(classpath)" kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 </dev/null &
	echo $! >"$dir/kafka.pid"
}

# node_wait waits until cluster node N logs that it started.
node_wait() {
	local n=$1 dir deadline
	dir=$(node_dir "$n")
	deadline=$(($(date +%s) + start_timeout))
	until grep -q "Kafka Server started" "$dir/kafka.log"; do
		if ! node_pid "$n" >/dev/null; then
			tail -n 30 "$dir/kafka.log" >&2
			die "cluster node $n exited during start-up (log: $dir/kafka.log)"
		fi
		if (($(date +%s) >= deadline)); then
			tail -n 30 "$dir/kafka.log" >&2
			die "cluster node $n did not start within ${start_timeout}s (log: $dir/kafka.log)"
		fi
		sleep 0.2
	done
}

node_stop() {
	local n=$1 pid i
	pid=$(node_pid "$n") || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$(node_dir "$n")/kafka.pid"
}

cluster_up() {
	local t0 n
	t0=$(now_ms)
	check_java
	fetch
	cluster_logging
	cluster_config
	cluster_format
	for n in "${cluster_nodes[@]}"; do node_launch "$n"; done
	for n in "${cluster_nodes[@]}"; do node_wait "$n"; done
	run_class org.apache.kafka.tools.TopicCommand --bootstrap-server "$(cluster_bootstrap)" --list >/dev/null ||
		die "the cluster started but does not answer a metadata request on $(cluster_bootstrap)"
	say "three-node KRaft cluster answers on $(cluster_bootstrap), started in $(elapsed "$t0")"
}

cluster_node_arg() {
	[[ ${1:-} =~ ^[123]$ ]] || die "usage: kafka.sh cluster kill9|restart N (N = 1, 2 or 3)"
}

cmd_cluster() {
	local n pid
	case ${1:-} in
	up) cluster_up ;;
	down)
		for n in "${cluster_nodes[@]}"; do node_stop "$n"; done
		say "cluster stopped"
		;;
	status)
		for n in "${cluster_nodes[@]}"; do
			if pid=$(node_pid "$n"); then
				echo "node $n: running (pid $pid) on 127.0.0.1:$(node_port "$n")"
			else
				echo "node $n: not running"
			fi
		done
		;;
	kill9)
		cluster_node_arg "${2:-}"
		pid=$(node_pid "$2") || die "cluster node $2 is not running"
		kill -KILL "$pid"
		while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
		rm -f "$(node_dir "$2")/kafka.pid"
		say "cluster node $2 killed (SIGKILL, pid $pid)"
		;;
	restart)
		cluster_node_arg "${2:-}"
		node_stop "$2"
		check_java
		node_launch "$2"
		node_wait "$2"
		say "cluster node $2 started again"
		;;
	clean)
		for n in "${cluster_nodes[@]}"; do node_stop "$n"; done
		rm -rf "${cluster_dir:?}"
		say "removed $cluster_dir"
		;;
	env)
		echo "export KAFKA_CLUSTER_BROKERS=$(cluster_bootstrap) KAFKA_CLUSTER_SCRIPT=$root/scripts/kafka.sh"
		;;
	*) die "usage: kafka.sh cluster up|down|status|kill9 N|restart N|clean|env" ;;
	esac
}

case ${1:-} in
cluster) cmd_cluster "${@:2}" ;;
up) cmd_up ;;
down) stop_broker ;;
status) cmd_status ;;
topic) cmd_topic "${@:2}" ;;
kill9) cmd_kill9 ;;
freeze) cmd_freeze "${@:2}" ;;
restart) cmd_restart ;;
clean) cmd_clean ;;
env)
	echo "export KAFKA_BROKERS=$bootstrap"
	echo "export KAFKA_SASL_SSL_BROKERS=$secure_bootstrap KAFKA_CA_FILE=$tls/ca.pem KAFKA_SASL_USER=$sasl_user KAFKA_SASL_PASSWORD_FILE=$tls/sasl-password"
	;;
fetch) check_java && fetch ;;
*)
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
