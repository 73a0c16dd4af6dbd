#!/usr/bin/env bash
# The extra set, too heavy for the main job: distro/extra's packages (OpenSSL 3.5, pcre2, nginx,
# tzdata) built into the main job's repository beside the base set, Go by its bootstrap chain from
# undistro's own gccgo (the bootstrap's extra stage, once `undistro bootstrap --stages 0-1` has
# built stage 1), then distro/extra's images (nginx; go once the extra stage exists; gcc once stage 2
# does). About 15 minutes cold on 2 cores without the Go chain (OpenSSL about 11), about an hour
# more with it (gcc-go about 35 minutes); packages whose inputs did not change are kept (the aarch64
# go-1.24, a single-recipe build, is rebuilt each run). `npm run test:slow` proves the nginx image (HTTP, HTTPS, nginx -t, uid 65532).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=out
MIRROR=${UNDISTRO_SOURCE_MIRROR:-.cache/mirror}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
U=./bin/undistro

bash scripts/fetch-sources.sh --extra
mkdir -p "$OUT/keys" "$OUT/repo" "$OUT/extra-images" "$OUT/logs"
[[ -f "$OUT/keys/undistro.rsa" ]] || $U keygen --apk "$OUT/keys/undistro"

echo "== the base set (kept when the main job built it already), then distro/extra's packages"
$U build distro/packages -j 2 --out "$OUT/repo" --signing-key "$OUT/keys/undistro.rsa" --source-mirror "$MIRROR" --log-dir "$OUT/logs"
$U build distro/extra/packages --out "$OUT/repo" --signing-key "$OUT/keys/undistro.rsa" --source-mirror "$MIRROR" --log-dir "$OUT/logs"

echo "== the Go bootstrap chain: undistro's gccgo builds Go 1.19, then each Go builds the next"
# The bootstrap's extra stage: GCC's Go front end built by stage 1's GCC, then Go 1.19, 1.21, 1.23
# and 1.24, each in a root made only of undistro packages (nothing of the host; docs/bootstrap.md).
if [[ -f "$OUT/bootstrap/stage1/x86_64/APKINDEX.tar.gz" ]]; then
  $U bootstrap --stages extra --out "$OUT/bootstrap" --signing-key "$OUT/keys/undistro.rsa" --source-mirror "$MIRROR"
  # The aarch64 Go (for the multi-arch go image): cross-built by the x86_64 chain's Go 1.23, hermetic.
  $U build distro/extra/go/go-1.24.yaml --arch aarch64 --hermetic --out "$OUT/bootstrap/extra" --repository-append "$OUT/bootstrap/stage1" \
    --signing-key "$OUT/keys/undistro.rsa" --source-mirror "$MIRROR" --log-dir "$OUT/logs"
else
  echo "build-extra: SKIPPED the Go chain: it starts from undistro's own GCC ($OUT/bootstrap/stage1): run undistro bootstrap --stages 0-1 first (about 80 minutes cold on 2 cores)" >&2
fi
$U build distro/packages -j 2 --arch aarch64 --out "$OUT/repo" --signing-key "$OUT/keys/undistro.rsa" --source-mirror "$MIRROR" --log-dir "$OUT/logs"

echo "== distro/extra's images"
built=0
for config in distro/extra/images/*.yaml; do
  name=$(basename "$config" .yaml)
  missing=""
  for stage in $(grep -o 'out/bootstrap/[a-z0-9-]*' "$config" | sort -u); do
    [[ -f "$OUT/bootstrap/${stage#out/bootstrap/}/x86_64/APKINDEX.tar.gz" ]] || missing="$missing ${stage#out/bootstrap/}"
  done
  if [[ -n "$missing" ]]; then
    echo "build-extra: SKIPPED the $name image: its packages come from the bootstrap's$missing stage ($OUT/bootstrap): run undistro bootstrap first" >&2
    continue
  fi
  $U image build "$config" --out "$OUT/extra-images/$name"
  built=$((built + 1))
done
echo "== the extra set's upstream versions, for the README's freshness table (node scripts/readme-tables.mjs)"
for set in packages:extra-updates go:extra-go-updates; do
  $U update check "distro/extra/${set%%:*}" --json > "$OUT/${set#*:}.json" ||
    echo "build-extra: the update check of distro/extra/${set%%:*} failed (offline?): the README's freshness table will leave it out" >&2
done
echo "build-extra: done: $OUT/repo, $built image(s) under $OUT/extra-images"
