#!/usr/bin/env bash
# Fills undistro's source mirror from Debian's source archive: `apt-get source --download-only`
# gives the real upstream release tarballs (*.orig.tar.*), which are added to the mirror by sha256
# so recipes keep their upstream URI and expected-sha256 and build offline.
#   scripts/fetch-sources.sh [DEBIAN-SOURCE-PACKAGE...]   (default: the packages the tests build)
set -euo pipefail
cd "$(dirname "$0")/.."

MIRROR=${UNDISTRO_SOURCE_MIRROR:-.cache/mirror}
DL=${UNDISTRO_DEBIAN_SRC:-.cache/debian-src}
PACKAGES=("$@")
# linux is pinned to 6.1.8-1: Debian keeps that source in bookworm for good (other packages were
# built using it), while the current bookworm kernel is replaced at each update.
if ((${#PACKAGES[@]} == 0)); then PACKAGES=(hello busybox ca-certificates zlib musl linux=6.1.8-1); fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  echo "fetch-sources: enabling Debian deb-src (bookworm main)" >&2
  $SUDO tee /etc/apt/sources.list.d/undistro-deb-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $SUDO apt-get update -qq
fi

mkdir -p "$DL" "$MIRROR"
for pkg in "${PACKAGES[@]}"; do
  # NAME or NAME=VERSION (a Debian version: its .dsc is NAME_VERSION-without-epoch.dsc).
  name=${pkg%%=*}
  dsc_glob="${name}_*.dsc"
  if [[ $pkg == *=* ]]; then dsc_glob="${name}_${pkg#*=}.dsc"; dsc_glob=${dsc_glob/_[0-9]:/_}; fi
  if ! compgen -G "$DL/$dsc_glob" >/dev/null; then
    (cd "$DL" && apt-get source --download-only -qq "$pkg" 2>&1 | grep -v "unsandboxed" || true)
  fi
  compgen -G "$DL/$dsc_glob" >/dev/null || { echo "fetch-sources: apt-get source $pkg failed" >&2; exit 1; }
done
shopt -s nullglob
tarballs=()
# Upstream releases (*.orig.tar.*), and the whole source of Debian-native packages (no .orig,
# no .debian.tar: Debian is their upstream, e.g. ca-certificates).
for f in "$DL"/*.tar.gz "$DL"/*.tar.xz "$DL"/*.tar.bz2; do
  case "$f" in *.debian.tar.*) continue ;; esac
  tarballs+=("$f")
done
./bin/undistro source add "${tarballs[@]}" --mirror "$MIRROR"
