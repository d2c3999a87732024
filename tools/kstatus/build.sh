#!/usr/bin/env bash
# Build the kstatus command (main.go, on sigs.k8s.io/cli-utils' kstatus library) from Go modules and cache it,
# as deploy/local/controlplane/build.sh does for the control plane.
#
# Prints the path of the binary. A second run with the same sources only checks the cache: the cache
# directory is named after the cli-utils version and a digest of main.go, go.mod and go.sum.
# KSTATUS_BINARY, when set, wins: nothing is built.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE_ROOT="${SIPTRUNK_CACHE_DIR:-$HOME/.cache/siptrunk-operator}"

if [[ -n "${KSTATUS_BINARY:-}" ]]; then
  [[ -x "$KSTATUS_BINARY" ]] || { echo "KSTATUS_BINARY=$KSTATUS_BINARY is not an executable" >&2; exit 1; }
  echo "$KSTATUS_BINARY"
  exit 0
fi

CLI_UTILS_VERSION="$(sed -n 's/^\s*\(require \)\?sigs.k8s.io\/cli-utils \(v[^ ]*\).*/\2/p' "$HERE/go.mod")"
[[ -n "$CLI_UTILS_VERSION" ]] || { echo "$HERE/go.mod does not require sigs.k8s.io/cli-utils" >&2; exit 1; }
SOURCES_DIGEST="$(cat "$HERE/main.go" "$HERE/go.mod" "$HERE/go.sum" | sha256sum | cut -c1-12)"
OUT="$CACHE_ROOT/bin/kstatus-$CLI_UTILS_VERSION-$SOURCES_DIGEST"

cached() { [[ -x "$OUT/kstatus" ]]; }
if cached; then
  echo "$OUT/kstatus"
  exit 0
fi

# Two builds at once share the cache: the second waits for the first, then finds its result.
mkdir -p "$CACHE_ROOT/bin"
exec 9>"$CACHE_ROOT/bin/.build-kstatus.lock"
flock 9
if cached; then
  echo "$OUT/kstatus"
  exit 0
fi

command -v go >/dev/null || {
  echo "go is not on PATH: kstatus is built from Go modules (Go 1.26, as for the control plane); install Go or set KSTATUS_BINARY" >&2
  exit 1
}

export GOMODCACHE="${GOMODCACHE_OVERRIDE:-$HOME/.cache/go-mod}"
export GOCACHE="${GOCACHE:-$HOME/.cache/go-build}"
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0

echo "[build-kstatus] building kstatus on sigs.k8s.io/cli-utils $CLI_UTILS_VERSION" >&2
rm -rf "$OUT.partial"
mkdir -p "$OUT.partial"
(cd "$HERE" && go build -trimpath -ldflags "-s -w" -o "$OUT.partial/kstatus" .)
rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
echo "[build-kstatus] done: $OUT/kstatus" >&2
echo "$OUT/kstatus"
