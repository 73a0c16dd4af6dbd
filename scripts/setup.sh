#!/usr/bin/env bash
# One-time set-up on a fresh Debian 12 machine: the Debian packages undistro's tests and main job use,
# then the npm dependencies (npm ci also compiles the TypeScript through the `prepare` script).
set -euo pipefail
cd "$(dirname "$0")/.."

# gpgv and debian-archive-keyring: the debian update provider checks the archive's signed indexes (gpg: its
# test signs a loopback archive); gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user-static: aarch64
# builds on x86_64, run under qemu;
# gawk and bison: glibc's build (the slow suite); g++ and m4: stage 0 of the bootstrap (GCC is C++,
# GMP's build runs m4).
DEBIAN_PACKAGES=(tar gzip xz-utils bzip2 openssl git gpg gpgv debian-archive-keyring bubblewrap gcc g++ m4 make libc6-dev patch umoci skopeo runc docker-registry diffoscope-minimal python3 python3-cryptography gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static binutils-aarch64-linux-gnu gawk bison disorderfs faketime chromium)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]} > 0)); then
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund

# Upstream source tarballs for the builds the tests and the main job run, from Debian's archive.
bash scripts/fetch-sources.sh
