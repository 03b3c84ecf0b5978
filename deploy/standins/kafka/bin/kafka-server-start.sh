#!/usr/bin/env bash
# kafka-server-start.sh server.properties: the broker/controller in the foreground (1 GiB heap unless
# KAFKA_HEAP_OPTS says otherwise, server logging from /opt/kafka/config/log4j2.yaml).
export KAFKA_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}
export KAFKA_LOG4J_OPTS=${KAFKA_LOG4J_OPTS:--Dlog4j2.configurationFile=/opt/kafka/config/log4j2.yaml}
exec "$(dirname "$0")/kafka-run-class.sh" kafka.Kafka "$@"
