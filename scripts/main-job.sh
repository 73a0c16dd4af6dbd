#!/usr/bin/env bash
# The main job, end to end on its embedded defaults: a signing key, packages built from upstream
# source (offline, from the source mirror scripts/setup.sh fills) in the sandbox, a signed
# repository, verified with the public key alone, then the images built from it and run.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${UNDISTRO_OUT:-out}
ARCH=$(uname -m)
MIRROR=${UNDISTRO_SOURCE_MIRROR:-.cache/mirror}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
U=./bin/undistro

# Every step the README promises runs, or the job fails saying what is missing. A step can be
# skipped only on purpose, by naming it in UNDISTRO_MAIN_JOB_SKIP (aarch64, runc), and then the
# job says so on its last line.
SKIPPED=()
skipping() { [[ ",${UNDISTRO_MAIN_JOB_SKIP:-}," == *",$1,"* ]]; }
need() {
  local step=$1; shift
  local missing=()
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  if ((${#missing[@]} > 0)); then
    echo "main job: the $step step needs ${missing[*]}, which is not installed" >&2
    echo "  hint: run bash scripts/setup.sh (it installs them), or skip the step on purpose: UNDISTRO_MAIN_JOB_SKIP=$step" >&2
    exit 1
  fi
}

# Before any work: the tools of every promised step are here (or the step is skipped on purpose).
if [[ "$ARCH" == x86_64 ]] && ! skipping aarch64; then need aarch64 aarch64-linux-gnu-gcc qemu-aarch64-static; fi
if ! skipping runc; then need runc umoci runc; fi
need build bwrap

mkdir -p "$OUT/keys" "$OUT/repo" "$OUT/images" "$OUT/logs"
if [[ ! -f "$OUT/keys/undistro.rsa" ]]; then
  $U keygen --apk "$OUT/keys/undistro"
fi
# The image signing key, encrypted as cosign does; empty password unless one is given.
export UNDISTRO_PASSWORD=${UNDISTRO_PASSWORD:-}
if [[ ! -f "$OUT/keys/cosign.key" ]]; then
  $U keygen --cosign "$OUT/keys/cosign"
fi
mkdir -p "$OUT/trusted"
cp "$OUT/keys/undistro.rsa.pub" "$OUT/trusted/"

echo "== packages (from source, in the sandbox, in dependency order)"
$U build distro/packages --plan
$U build distro/packages -j 2 --out "$OUT/repo" --signing-key "$OUT/keys/undistro.rsa" --attest-key "$OUT/keys/cosign.key" --source-mirror "$MIRROR" --log-dir "$OUT/logs"

echo "== verify the repository with the public key alone"
for apk in "$OUT/repo/$ARCH"/*.apk; do
  $U apk verify "$apk" --keys-dir "$OUT/trusted"
done
$U index verify "$OUT/repo/$ARCH/APKINDEX.tar.gz" --keys-dir "$OUT/trusted"

if [[ "$ARCH" != x86_64 ]]; then
  echo "== (this host is $ARCH: the packages above are its own; the aarch64 cross build runs on x86_64 hosts)"
elif skipping aarch64; then
  SKIPPED+=("aarch64 cross build (UNDISTRO_MAIN_JOB_SKIP)")
else
  echo "== the same recipes for aarch64 (Debian's cross toolchain), checked under qemu-user"
  $U build distro/packages --arch aarch64 -j 2 --out "$OUT/repo" --signing-key "$OUT/keys/undistro.rsa" --attest-key "$OUT/keys/cosign.key" --source-mirror "$MIRROR" --log-dir "$OUT/logs"
  for apk in "$OUT/repo/aarch64"/*.apk; do
    $U apk verify "$apk" --keys-dir "$OUT/trusted" >/dev/null
  done
  $U index verify "$OUT/repo/aarch64/APKINDEX.tar.gz" --keys-dir "$OUT/trusted"
  rm -rf "$OUT/aarch64-root"
  $U install busybox musl undistro-baselayout --root "$OUT/aarch64-root" -X "$OUT/repo" --keyring "$OUT/trusted/undistro.rsa.pub" --arch aarch64
  qemu-aarch64-static -L "$OUT/aarch64-root" "$OUT/aarch64-root/bin/busybox" sh -c 'echo "ok from the aarch64 busybox"'
fi

echo "== security feed: validate the advisories, publish the secdb beside the index"
$U advisory validate distro/advisories
$U advisory secdb --advisories distro/advisories --repository "$OUT/repo"

echo "== images"
for config in distro/images/*.yaml; do
  name=$(basename "$config" .yaml)
  # Image configs name the repository and key relative to the repository root (../../out/...).
  if [[ "$OUT" != "out" ]]; then
    tmp="$OUT/images/$name.yaml"
    sed -e "s#../../out/#$(realpath "$OUT")/#g" "$config" > "$tmp"
    config=$tmp
  fi
  $U image build "$config" --out "$OUT/images/$name" --tar "$OUT/images/$name.tar"
done

echo "== serve the images from undistro's registry (embedded, loopback) and pull them back"
PORT=$(node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
REGISTRY="127.0.0.1:$PORT"
$U registry serve --listen "$REGISTRY" --root "$OUT/registry" &
REGISTRY_PID=$!
trap 'kill $REGISTRY_PID 2>/dev/null || true' EXIT
node -e 'const u=process.argv[1];(async()=>{for(let i=0;i<100;i++){try{if((await fetch(u)).ok)return}catch{}await new Promise(r=>setTimeout(r,100))}process.exit(1)})()' "http://$REGISTRY/v2/"
for config in distro/images/*.yaml; do
  name=$(basename "$config" .yaml)
  $U push "$OUT/images/$name:latest" "$REGISTRY/undistro/$name:latest"
  $U sign --key "$OUT/keys/cosign.key" "$REGISTRY/undistro/$name:latest"
  $U attest --key "$OUT/keys/cosign.key" --type slsaprovenance1 --predicate "$OUT/images/$name/provenance.json" "$REGISTRY/undistro/$name:latest"
  # Each SBOM describes one platform's files: its subject is that platform's manifest.
  for sbom in "$OUT/images/$name/sboms"/sbom-*.spdx.json; do
    case "$sbom" in *-aarch64.spdx.json) platform=linux/arm64/v8 ;; *) platform=linux/amd64 ;; esac
    $U attest --key "$OUT/keys/cosign.key" --type spdxjson --platform "$platform" --predicate "$sbom" "$REGISTRY/undistro/$name:latest"
  done
done
rm -rf "$OUT/pulled"
for config in distro/images/*.yaml; do
  name=$(basename "$config" .yaml)
  $U pull "$REGISTRY/undistro/$name:latest" "$OUT/pulled/$name:latest"
done

echo "== verify signatures, provenance and SBOM attestations offline (pulled layouts, public key only)"
cp "$OUT/keys/cosign.pub" "$OUT/trusted/"
$U keys "$OUT/trusted"
for config in distro/images/*.yaml; do
  name=$(basename "$config" .yaml)
  $U verify --keyring "$OUT/trusted" --require signature,provenance,sbom --repository "$OUT/repo" "oci:$OUT/pulled/$name:latest"
done
$U registry gc --root "$OUT/registry"

echo "== reproducibility: hello and its image rebuilt from their own records under varied conditions, verdicts signed"
$U rebuild-check "$OUT/repo/$ARCH"/hello-*.apk --keyring "$OUT/trusted" --source-mirror "$MIRROR" --report-dir "$OUT/rebuild-reports" --log-dir "$OUT/logs/rebuild-check" --attest-key "$OUT/keys/cosign.key"
$U rebuild-check "oci:$OUT/images/hello" --keyring "$OUT/trusted" --attest-key "$OUT/keys/cosign.key"
$U verify "$(ls "$OUT/repo/$ARCH"/hello-2*.apk)" --keyring "$OUT/trusted" --require signature,rebuilt:1
$U verify "oci:$OUT/images/hello" --keyring "$OUT/trusted" --require rebuilt:1

echo "== the catalogue: a static site of the repository and the images (packages, images, SBOMs, build records, verdicts, signatures, advisories)"
CATALOG_IMAGES=()
for config in distro/images/*.yaml; do
  name=$(basename "$config" .yaml)
  CATALOG_IMAGES+=(--image "$name=oci:$OUT/pulled/$name")
done
$U catalog build --repository "$OUT/repo" --advisories distro/advisories --keyring "$OUT/trusted" "${CATALOG_IMAGES[@]}" --out "$OUT/catalog"

if skipping runc; then
  SKIPPED+=("running the images with runc (UNDISTRO_MAIN_JOB_SKIP)")
else
  echo "== run the hello image (as pulled from the registry) with runc"
  rm -rf "$OUT/images/hello-bundle"
  umoci unpack --image "$OUT/pulled/hello:latest" "$OUT/images/hello-bundle" >/dev/null
  node -e 'const f=process.argv[1];const c=JSON.parse(require("fs").readFileSync(f));c.process.terminal=false;require("fs").writeFileSync(f,JSON.stringify(c))' "$OUT/images/hello-bundle/config.json"
  runc run --bundle "$OUT/images/hello-bundle" "undistro-main-job-$$"
  echo "== run a shell in the base image"
  rm -rf "$OUT/images/base-bundle" "$OUT/images/base-host"
  # base is multi-platform; umoci unpacks one image: take this machine's platform out of the index.
  $U copy --platform "linux/$([[ "$ARCH" == aarch64 ]] && echo arm64/v8 || echo amd64)" "oci:$OUT/pulled/base:latest" "oci:$OUT/images/base-host:latest" >/dev/null
  umoci unpack --image "$OUT/images/base-host:latest" "$OUT/images/base-bundle" >/dev/null
  node -e 'const f=process.argv[1];const c=JSON.parse(require("fs").readFileSync(f));c.process.terminal=false;c.process.args=["/bin/sh","-c","echo ok from $(cat /etc/os-release | grep ^PRETTY_NAME)"];require("fs").writeFileSync(f,JSON.stringify(c))' "$OUT/images/base-bundle/config.json"
  runc run --bundle "$OUT/images/base-bundle" "undistro-main-job-base-$$"
fi
echo "== the daily rebuild's plan: everything is current, so nothing to rebuild"
$U rebuild --plan --repository "$OUT/repo" --keyring "$OUT/trusted/undistro.rsa.pub"

if ((${#SKIPPED[@]} > 0)); then
  echo "main job: SKIPPED ON REQUEST: ${SKIPPED[*]}" >&2
fi
echo "main job: OK — repository $OUT/repo, images in $OUT/images (served from $OUT/registry), trusted key in $OUT/trusted"
