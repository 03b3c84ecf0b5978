#!/usr/bin/env bash
# Builds the local stand-in for python:3.11-slim (docs/containers.md) from Debian 12's python3 (3.11).
#   deploy/standins/python.sh [IMAGE]      (default docker.io/library/python:3.11-slim)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
image=${1:-docker.io/library/python:3.11-slim}
"$here/debian.sh"
echo "python stand-in: building $image"
nice -n 10 podman build --quiet --format docker --label wirepipe.standin="${WIREPIPE_STANDIN_HASH:-manual}" -t "$image" "$here/python" >/dev/null
echo "python stand-in: $image"
