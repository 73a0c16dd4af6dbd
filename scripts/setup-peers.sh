#!/usr/bin/env bash
# Installs the pinned Go peers of scripts/peers.txt (cosign, crane, the OCI distribution-spec conformance
# suite, syft) into .cache/go/bin, with Go's module and build caches under .cache/go too, so a rerun is
# cheap and nothing lands outside the work tree. Needs Go (1.26 here) and the Go module proxy.
# Usage: bash scripts/setup-peers.sh [NAME...]   (default: every peer)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

command -v go >/dev/null || { echo "setup-peers: go is not installed (the peers are Go tools; see scripts/peers.txt)" >&2; exit 1; }
export GOPATH="$ROOT/.cache/go/path" GOMODCACHE="$ROOT/.cache/go/mod" GOCACHE="$ROOT/.cache/go/build"
export GOBIN="$ROOT/.cache/go/bin" GOFLAGS="-buildvcs=false -modcacherw" CGO_ENABLED=0
mkdir -p "$GOBIN"

wanted=("$@")
is_wanted() {
  ((${#wanted[@]} == 0)) && return 0
  local w
  for w in "${wanted[@]}"; do [[ $w == "$1" ]] && return 0; done
  return 1
}

# A stamp beside each binary records the pinned line it was built from: a changed pin rebuilds.
while read -r name kind spec; do
  [[ -z ${name:-} || $name == \#* ]] && continue
  is_wanted "$name" || continue
  stamp="$GOBIN/.$name.pin"
  pin="$kind $spec"
  # A local checker is rebuilt when its sources or pins change.
  [[ $kind == local ]] && pin="$pin $(cat "$spec"/go.mod "$spec"/go.sum "$spec"/*.go | sha256sum | cut -c1-16)"
  if [[ -x $GOBIN/$name && -f $stamp && $(cat "$stamp") == "$pin" ]]; then
    echo "setup-peers: $name is installed ($spec)"
    continue
  fi
  echo "setup-peers: building $name from $spec" >&2
  start=$SECONDS
  case $kind in
    install) go install "$spec" 2> >(grep -v '^go: downloading' >&2) ;;
    gotest)
      # The suite ships as a Go test package with its own go.mod: fetch that module through the proxy,
      # then compile its tests in a writable copy.
      dir=$(go mod download -json "$spec" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
      [[ -n $dir ]] || { echo "setup-peers: the proxy did not give $spec" >&2; exit 1; }
      work=$(mktemp -d)
      cp -r "$dir/." "$work" && chmod -R u+w "$work"
      (cd "$work" && go test -c -o "$GOBIN/$name" .)
      rm -rf "$work"
      ;;
    local) (cd "$spec" && go build -o "$GOBIN/$name" .) ;;
    *) echo "setup-peers: scripts/peers.txt: unknown kind '$kind' for $name" >&2; exit 1 ;;
  esac
  echo "$pin" >"$stamp"
  echo "setup-peers: $name built in $((SECONDS - start)) s"
done <scripts/peers.txt
