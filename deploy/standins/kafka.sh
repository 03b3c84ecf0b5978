#!/usr/bin/env bash
# Builds the local stand-in for apache/kafka:<version> (docs/containers.md), <version> being the Kafka version
# deploy/kafka/pom.xml pins, from the Maven Central jars that pom resolves plus kafka-tools.
#   deploy/standins/kafka.sh [IMAGE]        (default docker.io/apache/kafka:<version>)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/../kafka/pom.xml")
image=${1:-docker.io/apache/kafka:$version}
"$here/debian.sh"
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp -r "$here/kafka/bin" "$here/kafka/config" "$here/kafka/run" "$here/kafka/Containerfile" "$context/"
echo "kafka stand-in: resolving Kafka $version jars (Maven)"
mvn -q -f "$here/kafka/pom.xml" dependency:copy-dependencies -Dwirepipe.kafka.libs="$context/libs"
echo "kafka stand-in: building $image"
nice -n 10 podman build --quiet --format docker --label wirepipe.standin="${WIREPIPE_STANDIN_HASH:-manual}" --build-arg KAFKA_VERSION="$version" -t "$image" "$context" >/dev/null
echo "kafka stand-in: $image"
