#!/usr/bin/env bash
# Builds the local stand-in for prom/prometheus (docs/containers.md) from Debian's prometheus package.
#   deploy/standins/prometheus.sh IMAGE      (the name the compose file uses, e.g. prom/prometheus:v3.5.0)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${1:?usage: prometheus.sh IMAGE}
"$here/debian.sh"
echo "prometheus stand-in: building $image"
nice -n 10 podman build --quiet --format docker --label wirepipe.standin="${WIREPIPE_STANDIN_HASH:-manual}" -t "$image" "$here/prometheus" >/dev/null
echo "prometheus stand-in: $image"
