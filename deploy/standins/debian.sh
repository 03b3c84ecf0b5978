#!/usr/bin/env bash
# The base of every local stand-in image: Debian 12 (bookworm) from Debian's own packages, via debootstrap.
#   deploy/standins/debian.sh [IMAGE]      (default localhost/wirepipe-standins/debian:bookworm)
# Needs root, debootstrap and podman. Takes about a minute; does nothing when the image exists.
set -euo pipefail
image=${1:-localhost/wirepipe-standins/debian:bookworm}
if podman image exists "$image"; then
    echo "stand-in base: $image exists"
    exit 0
fi
# The Debian mirror apt uses on this machine (one-line or deb822 sources), else Debian's default.
mirror=$( { grep -rhoE '^(deb|URIs:)[[:space:]]+https?://[^[:space:]]+/debian/?$' /etc/apt/sources.list \
    /etc/apt/sources.list.d/ 2>/dev/null || true; } | head -n1 | awk '{print $2}')
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
echo "stand-in base: debootstrap bookworm from $mirror"
nice -n 10 debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 30 "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"
# What docker's debian:*-slim images leave out: apt lists, caches, docs and man pages.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
    "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
tar -C "$rootfs" -c . | podman import --quiet --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$image" >/dev/null
echo "stand-in base: $image"
