#!/usr/bin/env bash
# The extra set, too heavy for the main job: distro/extra's packages built hermetically by the
# bootstrap's extra stage (gcc-go, Go by its bootstrap chain, tzdata, OpenSSL 3.5, pcre2, nginx;
# once `undistro bootstrap --stages 0-1` has built stage 1), then distro/extra's images (nginx and
# go from the extra stage; gcc once stage 2 exists). About an hour cold on 2 cores after stage 1
# (gcc-go about 35 minutes, the Go chain 20, OpenSSL 12); packages whose inputs did not change are
# kept. `npm run test:slow` proves the nginx image (HTTP, HTTPS, nginx -t, uid 65532).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=out
# The bootstrap's state: out/bootstrap, or the one the slow suites share (UNDISTRO_BOOTSTRAP_OUT);
# either way signed with $OUT/keys/undistro.rsa.
BOOTSTRAP=${UNDISTRO_BOOTSTRAP_OUT:-$OUT/bootstrap}
MIRROR=${UNDISTRO_SOURCE_MIRROR:-.cache/mirror}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
U=./bin/undistro

bash scripts/fetch-sources.sh --extra
mkdir -p "$OUT/keys" "$OUT/repo" "$OUT/extra-images" "$OUT/logs"
[[ -f "$OUT/keys/undistro.rsa" ]] || $U keygen --apk "$OUT/keys/undistro"

echo "== the base set (kept when the main job built it already)"
$U build distro/packages -j 2 --out "$OUT/repo" --signing-key "$OUT/keys/undistro.rsa" --source-mirror "$MIRROR" --log-dir "$OUT/logs"

echo "== distro/extra built hermetically by undistro's own toolchain (the bootstrap's extra stage)"
# gcc-go (GCC's Go front end) built by stage 1's GCC; Go 1.19 by gccgo, then 1.21, 1.23 and 1.24,
# each by the one before; tzcode and tzdata by its zic; perl, zlib, pcre2, OpenSSL and nginx; every
# one in a root made only of undistro packages (nothing of the host; docs/bootstrap.md).
if [[ -f "$BOOTSTRAP/stage1/x86_64/APKINDEX.tar.gz" ]]; then
  bash scripts/fetch-sources.sh --bootstrap
  # extra-aarch64: the aarch64 Go (for the multi-arch go image), cross-built by the x86_64 chain.
  # With the bootstrap's own SOURCE_DATE_EPOCH (unset: 0), as `undistro bootstrap` by hand and the
  # slow suites run it: another epoch is another build of every recipe (GCC's Go front end first).
  env -u SOURCE_DATE_EPOCH $U bootstrap --stages extra,extra-aarch64 --out "$BOOTSTRAP" --signing-key "$OUT/keys/undistro.rsa" --source-mirror "$MIRROR"
else
  echo "build-extra: SKIPPED distro/extra's hermetic packages (gcc-go, the Go chain, tzdata, OpenSSL, pcre2, nginx): they are built by undistro's own GCC ($BOOTSTRAP/stage1): run undistro bootstrap --stages 0-1 first (about 80 minutes cold on 2 cores)" >&2
fi
$U build distro/packages -j 2 --arch aarch64 --out "$OUT/repo" --signing-key "$OUT/keys/undistro.rsa" --source-mirror "$MIRROR" --log-dir "$OUT/logs"

echo "== distro/extra's images"
# The configs name ../../../out/…: written out with absolute paths (and the bootstrap's state where
# it is), so they build from wherever the state lives.
mkdir -p "$OUT/extra-configs"
built=0
for config in distro/extra/images/*.yaml; do
  name=$(basename "$config" .yaml)
  missing=""
  for stage in $(grep -o 'out/bootstrap/[a-z0-9-]*' "$config" | sort -u); do
    # A stage run to its end leaves its report (an index alone may be a stage half built).
    [[ -f "$BOOTSTRAP/${stage#out/bootstrap/}/bootstrap-report.json" ]] || missing="$missing ${stage#out/bootstrap/}"
  done
  if [[ -n "$missing" ]]; then
    echo "build-extra: SKIPPED the $name image: its packages come from the bootstrap's$missing stage ($BOOTSTRAP): run undistro bootstrap first" >&2
    # No layout from an earlier state left to be measured as if it were this one.
    rm -rf "$OUT/extra-images/$name"
    continue
  fi
  sed -e "s#\.\./\.\./\.\./out/bootstrap/#$(realpath "$BOOTSTRAP")/#g" -e "s#\.\./\.\./\.\./out/#$PWD/$OUT/#g" "$config" > "$OUT/extra-configs/$name.yaml"
  $U image build "$OUT/extra-configs/$name.yaml" --out "$OUT/extra-images/$name"
  built=$((built + 1))
done
echo "== the extra set's upstream versions, for the README's freshness table (node scripts/readme-tables.mjs)"
for set in packages:extra-updates go:extra-go-updates; do
  $U update check "distro/extra/${set%%:*}" --json > "$OUT/${set#*:}.json" ||
    echo "build-extra: the update check of distro/extra/${set%%:*} failed (offline?): the README's freshness table will leave it out" >&2
done
echo "== a catalogue of the whole set: the main job's repository and the bootstrap's stages, with the images"
repos=()
for stage in extra extra-aarch64 stage2 aarch64; do
  [[ -f "$BOOTSTRAP/$stage/bootstrap-report.json" ]] && repos+=(--repository-append "$BOOTSTRAP/$stage")
done
images=()
for layout in "$OUT"/extra-images/*/; do [[ -f "$layout/index.json" ]] && images+=(--image "$(basename "$layout")=oci:${layout%/}"); done
$U catalog build --repository "$OUT/repo" "${repos[@]}" --advisories distro/advisories "${images[@]}" --out "$OUT/extra-catalog"
echo "build-extra: done: $OUT/repo, $built image(s) under $OUT/extra-images, the catalogue in $OUT/extra-catalog"
