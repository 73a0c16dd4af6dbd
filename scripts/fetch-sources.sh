#!/usr/bin/env bash
# Fills undistro's source mirror from Debian's source archive: `apt-get source --download-only`
# gives the real upstream release tarballs (*.orig.tar.*), which are added to the mirror by sha256
# so recipes keep their upstream URI and expected-sha256 and build offline.
#   scripts/fetch-sources.sh [DEBIAN-SOURCE-PACKAGE...]   (default: the packages the tests build)
#   scripts/fetch-sources.sh --bootstrap                  (those and the toolchain's, for undistro bootstrap)
#   scripts/fetch-sources.sh --extra                      (those and distro/extra's: OpenSSL, pcre2, nginx, tzdata, Go)
set -euo pipefail
cd "$(dirname "$0")/.."

MIRROR=${UNDISTRO_SOURCE_MIRROR:-.cache/mirror}
DL=${UNDISTRO_DEBIAN_SRC:-.cache/debian-src}
PACKAGES=("$@")
# NAME/SUITE takes the suite's version: the base set is pinned to bookworm (its recipes pin those
# tarballs), the toolchain to trixie, the current stable suite (GCC 14.2, binutils 2.44, make 4.4.1).
# linux is pinned to 6.1.8-1: Debian keeps that source in bookworm for good (other packages were
# built using it), while the current bookworm kernel is replaced at each update.
BASE=(hello=2.12.3-1 busybox=1:1.37.0-6 zlib=1:1.3.dfsg+really1.3.1-1+deb13u1 musl=1.2.5-3.1~deb13u1 linux=6.12.8-1)
# `--bootstrap`: what distro/bootstrap and distro/toolchain build (undistro bootstrap).
TOOLCHAIN=(gcc-14/trixie binutils/trixie gmp/trixie mpfr4/trixie mpclib3/trixie make-dfsg/trixie pkgconf/trixie m4/trixie bash=5.2.37-2 xz-utils=5.8.1-1+deb13u2 bzip2=1.0.8-6 gzip=1.13-1+deb13u1 bison=2:3.8.2+dfsg-1 flex=2.6.4-8.2)
# `--extra`: what distro/extra builds (scripts/build-extra.sh). The archive's Sources indexes list
# newer releases (OpenSSL 3.5.9, pcre2 10.49, nginx 1.30.6, tzdata 2026f) whose tarballs its pool
# does not serve here (404); these are the newest ones it serves, fetched from the pool below.
EXTRA_POOL=(
  main/o/openssl/openssl_3.5.7.orig.tar.gz=a8c0d28a529ca480f9f36cf5792e2cd21984552a3c8e4aa11a24aa31aeac98e8
  main/p/pcre2/pcre2_10.48.orig.tar.gz=ebcc25aadf2a51fa1fefa9b8bc9e7a79b3dae86870a0f1152a22e42befd46888
  main/n/nginx/nginx_1.26.3.orig.tar.gz=69ee2b237744036e61d24b836668aad3040dda461fe6f570f1787eab570c75aa
  main/t/tzdata/tzdata_2026c.orig.tar.gz=e4a178a4477f3d0ea77cc31828ff72aa38feff8d61aa13e7e99e142e9d902be4
  # tzcode's zic and zdump: the tz code in GNU libc's tarball (timezone/), the archive's only copy.
  main/g/glibc/glibc_2.42.orig.tar.xz=69c1e915c8edd75981cbfc6b7654e8fc4e52a48d06b9f706f463492749a9b6fb
  # The Go bootstrap chain: undistro's gccgo (GCC's Go front end, from the GCC sources --bootstrap
  # fetches) builds 1.19 (the oldest Go the archive keeps), which builds 1.21
  # (below), which builds 1.23, which builds 1.24 (the newest the archive serves).
  main/g/golang-1.19/golang-1.19_1.19.8.orig.tar.gz=1d7a67929dccafeaf8a29e55985bc2b789e0499cb1a17100039f084e3238da2f
  main/g/golang-1.23/golang-1.23_1.23.1.orig.tar.gz=6ee44e298379d146a5e5aa6b1c5b5d5f5d0a3365eabdd70741e6e21340ec3b0d
  main/g/golang-1.24/golang-1.24_1.24.9.orig.tar.gz=c72f81ba54fe00efe7f3e7499d400979246881b13b775e9a9bb85541c11be695
)
# No suite serves a Go 1.20-1.22 source any more: Go 1.21 comes from the Go module proxy, as Go's own
# module golang.org/toolchain (its source tree; the recipe deletes the prebuilt binaries).
GO_PROXY_FILES=(golang.org/toolchain/@v/v0.0.1-go1.21.13.linux-amd64.zip=f3568bbc73073440d4e7e2093e37ccc84d1d852454c7bf5e044e809179ea7ab7)
# `--bootstrap` also takes Perl (built natively in the hermetic stages) from the pool: the newest
# release the archive serves (5.42.3, unstable's).
BOOTSTRAP_POOL=(main/p/perl/perl_5.42.3.orig.tar.xz=c9387e1473a1866935cb047ece7c2e0a80767a3acdecb79d4a375f8a95970ddc)
WITH_EXTRA=0
WITH_BOOTSTRAP=0
if ((${#PACKAGES[@]} == 0)); then PACKAGES=("${BASE[@]}"); fi
if [[ ${PACKAGES[0]} == --bootstrap ]]; then PACKAGES=("${BASE[@]}" "${TOOLCHAIN[@]}"); WITH_BOOTSTRAP=1; fi
if [[ ${PACKAGES[0]} == --extra ]]; then PACKAGES=("${BASE[@]}"); WITH_EXTRA=1; fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
# deb-src only: source packages to read, never binaries to install from another suite.
enable_suite() {
  local suite=$1 file=/etc/apt/sources.list.d/undistro-deb-src-$1.sources
  if ! grep -rqs "^Types:.*deb-src" /etc/apt/sources.list.d/ || ! grep -rqsE "^(Suites:.*\b$suite\b|deb-src .* $suite )" /etc/apt/sources.list.d/ /etc/apt/sources.list; then
    echo "fetch-sources: enabling Debian deb-src ($suite main)" >&2
    $SUDO tee "$file" >/dev/null <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    UPDATE=1
  fi
}
UPDATE=0
enable_suite bookworm
# The base set takes its current releases from stable (trixie) and, for hello, unstable (sid).
enable_suite trixie
enable_suite sid
if ((UPDATE)); then $SUDO apt-get update -qq; fi

mkdir -p "$DL" "$MIRROR"
for pkg in "${PACKAGES[@]}"; do
  # NAME, NAME/SUITE or NAME=VERSION (a Debian version: its .dsc is NAME_VERSION-without-epoch.dsc).
  name=${pkg%%[=/]*}
  dsc_glob="${name}_*.dsc"
  if [[ $pkg == *=* ]]; then dsc_glob="${name}_${pkg#*=}.dsc"; dsc_glob=${dsc_glob/_[0-9]:/_}; fi
  [[ $pkg == */* ]] && dsc_glob="${name}_*.dsc"
  if [[ $pkg == */* ]] || ! compgen -G "$DL/$dsc_glob" >/dev/null; then
    # A .debian.tar the mirror no longer serves does not matter: only upstream tarballs are used.
    (cd "$DL" && apt-get source --download-only -qq "$pkg" 2>&1 | grep -v "unsandboxed" || true)
  fi
  compgen -G "$DL/$dsc_glob" >/dev/null || compgen -G "$DL/${name}_*.orig.tar.*" >/dev/null || {
    echo "fetch-sources: apt-get source $pkg failed" >&2
    exit 1
  }
done
# Files taken straight from the archive's pool, for sources apt-get source cannot fetch here (a
# version the suites list but whose .dsc the archive no longer serves, as ca-certificates 20250419
# of the current stable suite), each with the sha256 the suite's signed Sources index gives it
# (`apt-cache showsrc`): a file fetched without apt is checked against that before it is used.
POOL=(main/c/ca-certificates/ca-certificates_20250419.tar.xz=33b44ef78653ecd3f0f2f13e5bba6be466be2e7da72182f737912b81798ba5d2)
if ((WITH_EXTRA)); then POOL+=("${EXTRA_POOL[@]}" "${GO_PROXY_FILES[@]/#/proxy:}"); fi
if ((WITH_BOOTSTRAP)); then POOL+=("${BOOTSTRAP_POOL[@]}"); fi
for entry in "${POOL[@]}"; do
  path=${entry%%=*}
  sha=${entry#*=}
  url="http://deb.debian.org/debian/pool/$path"
  if [[ $path == proxy:* ]]; then url="https://proxy.golang.org/${path#proxy:}"; fi
  file="$DL/$(basename "$path")"
  if [[ -s $file ]] && [[ $(sha256sum "$file" | cut -d' ' -f1) == "$sha" ]]; then continue; fi
  echo "fetch-sources: $url" >&2
  python3 - "$url" "$file" <<'PY' || { echo "fetch-sources: cannot fetch $url" >&2; exit 1; }
import sys, urllib.request, os
url, out = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(url, timeout=120) as r, open(out + ".part", "wb") as f:
    f.write(r.read())
os.replace(out + ".part", out)
PY
  if [[ $(sha256sum "$file" | cut -d' ' -f1) != "$sha" ]]; then
    rm -f "$file"
    echo "fetch-sources: $url does not have the sha256 pinned here ($sha)" >&2
    exit 1
  fi
done

shopt -s nullglob
tarballs=()
# Upstream releases (*.orig.tar.*), and the whole source of Debian-native packages (no .orig,
# no .debian.tar: Debian is their upstream, e.g. ca-certificates).
for f in "$DL"/*.tar.gz "$DL"/*.tar.xz "$DL"/*.tar.bz2 "$DL"/*.zip; do
  case "$f" in *.debian.tar.*) continue ;; esac
  tarballs+=("$f")
done
./bin/undistro source add "${tarballs[@]}" --mirror "$MIRROR"
