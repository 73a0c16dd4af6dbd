#!/usr/bin/env bash
# The main job, end to end on its embedded defaults: make a signing key, package a staged
# directory, index the repository, verify everything with the public key alone.
# Later issues extend it to the whole distro (build from source, images, registry, signatures).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${UNDISTRO_OUT:-out}
ARCH=$(uname -m)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
U=./bin/undistro

mkdir -p "$OUT/keys" "$OUT/repo/$ARCH"
if [[ ! -f "$OUT/keys/undistro.rsa" ]]; then
  $U keygen --apk "$OUT/keys/undistro"
fi
mkdir -p "$OUT/trusted"
cp "$OUT/keys/undistro.rsa.pub" "$OUT/trusted/"

$U apk create distro/staged/undistro-release \
  --name undistro-release --version 0.1.0-r0 --arch "$ARCH" \
  --description "undistro release files (/etc/os-release)" --license Apache-2.0 \
  --signing-key "$OUT/keys/undistro.rsa" \
  --out "$OUT/repo/$ARCH/undistro-release-0.1.0-r0.apk"

$U index "$OUT/repo/$ARCH" --signing-key "$OUT/keys/undistro.rsa" --description "undistro $ARCH"

for apk in "$OUT/repo/$ARCH"/*.apk; do
  $U apk verify "$apk" --keys-dir "$OUT/trusted"
done
$U index verify "$OUT/repo/$ARCH/APKINDEX.tar.gz" --keys-dir "$OUT/trusted"
echo "main job: OK — repository at $OUT/repo/$ARCH, trusted key in $OUT/trusted"
