#!/usr/bin/env bash
# Apache Kafka as a single KRaft node (broker + controller) on 127.0.0.1, from Maven Central jars.
# Usage: kafka.sh install|up|down|status       Env: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093),
#        KAFKA_VERSION (4.1.1), KAFKA_HEAP (768m)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
KAFKA_HEAP="${KAFKA_HEAP:-768m}"
HOME_DIR="$LOCAL/kafka-$KAFKA_VERSION"
CONF="$STATE/kafka/server.properties"
server_paths kafka

check_java() {
  need java "a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2}')
  [ "${v%%.*}" -ge 17 ] 2>/dev/null || die "Kafka $KAFKA_VERSION needs Java 17 or newer (found: ${v:-unknown})"
}

install() {
  [ -f "$HOME_DIR/.installed" ] && return 0
  check_java
  need mvn "Apache Maven (Debian: apt-get install maven)"
  info "resolving Apache Kafka $KAFKA_VERSION from Maven Central"
  rm -rf "$HOME_DIR.tmp"
  mvn -q -B -f "$REPO_ROOT/deploy/local/kafka/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$HOME_DIR.tmp/libs" \
    >"$LOGS/kafka-install.log" 2>&1 || die "Maven could not resolve Kafka $KAFKA_VERSION (see $LOGS/kafka-install.log)"
  rm -rf "$HOME_DIR" && mv "$HOME_DIR.tmp" "$HOME_DIR"
  touch "$HOME_DIR/.installed"
  info "Kafka $KAFKA_VERSION installed in $HOME_DIR"
}

write_config() {
  mkdir -p "$(dirname "$CONF")" "$DATA"
  cat >"$CONF" <<CFG
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$DATA
num.partitions=4
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=168
log.cleaner.enable=true
# Idle cost (issue 15): the controller appends (and fsyncs) a no-op metadata record every 0.5 s
# by default when nothing else changes; every 5 s is plenty for one local node.
metadata.max.idle.interval.ms=5000
CFG
}

java_cmd() {  # the JVM command line, for the foreground tools and the broker alike
  JAVA=(java -Xms128m -Xmx"$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true
    -Dkafka.logs.dir="$LOGS" -Dlog4j2.configurationFile="$REPO_ROOT/deploy/local/kafka/log4j2.properties"
    -cp "$HOME_DIR/libs/*")
}

ready() { port_open 127.0.0.1 "$KAFKA_PORT"; }

up() {
  already_running Kafka "$PIDFILE" "$KAFKA_PORT" && return 0
  install
  check_java
  port_open 127.0.0.1 "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by another process: set KAFKA_PORT"
  port_open 127.0.0.1 "$KAFKA_CONTROLLER_PORT" && die "port $KAFKA_CONTROLLER_PORT is taken: set KAFKA_CONTROLLER_PORT"
  write_config
  java_cmd
  if [ ! -f "$DATA/meta.properties" ]; then
    local cluster_id
    cluster_id=$("${JAVA[@]}" kafka.tools.StorageTool random-uuid 2>>"$LOGS/kafka-format.log")
    "${JAVA[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$CONF" >>"$LOGS/kafka-format.log" 2>&1 \
      || die "formatting Kafka storage failed (see $LOGS/kafka-format.log)"
  fi
  info "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT"
  # setsid: the broker gets its own session, outlives this script and ignores the caller's Ctrl-C.
  # Started directly (not via a function) so that $! is the JVM itself.
  setsid "${JAVA[@]}" kafka.Kafka "$CONF" >"$LOGS/kafka.out" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  await_start Kafka "$PIDFILE" "$KAFKA_PORT" 90 "$LOGS/kafka.out and $LOGS/kafka.log"
}

down() { stop_pid "$PIDFILE" Kafka; }

server_main kafka "$PIDFILE" "127.0.0.1:$KAFKA_PORT" "$@"
