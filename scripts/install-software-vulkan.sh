#!/usr/bin/env bash
# Installs Mesa's software Vulkan driver (llvmpipe / lavapipe, Mesa 25 from bookworm-backports) so the `webgpu`
# package (Dawn) finds an adapter on a machine without a GPU. Debian bookworm only; run as root. Idempotent and quiet:
# a second run with everything in place changes nothing.
#
# The backports source is derived from the system's own /etc/apt/sources.list.d/debian.sources (same mirror, same
# signing key), so no archive host is named here.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-software-vulkan: must run as root (apt-get)" >&2
  exit 1
fi

have() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
mesa_major() { dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/'; }

if have mesa-vulkan-drivers && have libvulkan1 && [ "$(mesa_major)" -ge 25 ] 2>/dev/null; then
  exit 0
fi

src=/etc/apt/sources.list.d/debian.sources
dst=/etc/apt/sources.list.d/debian-backports.sources
if [ ! -f "$dst" ]; then
  if [ ! -f "$src" ]; then
    echo "install-software-vulkan: $src not found (expects Debian bookworm with deb822 sources)" >&2
    exit 1
  fi
  # Keep only the first stanza (the main archive; the security archive has no backports suite) and point it at backports.
  awk 'BEGIN{RS=""; ORS="\n\n"} NR==1' "$src" | sed -E 's/^Suites:.*/Suites: bookworm-backports/' > "$dst"
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { apt-get update -qq && apt-get install -y -qq -t bookworm-backports --no-install-recommends mesa-vulkan-drivers libvulkan1; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-software-vulkan: apt-get failed (output above)" >&2
  exit 1
fi
echo "install-software-vulkan: mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) installed"
