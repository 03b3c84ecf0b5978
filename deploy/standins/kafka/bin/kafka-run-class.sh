#!/usr/bin/env bash
# kafka-run-class.sh MAIN-CLASS [ARGS]: the one launcher every script in this folder goes through.
# Honours the variables Kafka's own scripts read: KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_GC_LOG_OPTS,
# KAFKA_LOG4J_OPTS, KAFKA_JMX_OPTS with JMX_PORT, KAFKA_OPTS; JAVA_HOME when set.
set -eu
main=$1
shift
java=java
[ -n "${JAVA_HOME:-}" ] && java=$JAVA_HOME/bin/java
# shellcheck disable=SC2086  # the *_OPTS variables are lists of JVM flags
exec "$java" \
    ${KAFKA_HEAP_OPTS:--Xmx256M} \
    ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true} \
    ${KAFKA_GC_LOG_OPTS:-} \
    ${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.yaml} \
    ${JMX_PORT:+${KAFKA_JMX_OPTS:-} -Dcom.sun.management.jmxremote.port=$JMX_PORT} \
    ${KAFKA_OPTS:-} \
    -cp '/opt/kafka/libs/*' "$main" "$@"
