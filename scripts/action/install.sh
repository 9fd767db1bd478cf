#!/usr/bin/env bash
# Put a hunkguard binary on the PATH of the job.
#
#   scripts/action/install.sh
#
# In order: an existing binary (HUNKGUARD_BIN); a cached install from the same sources and version (cache
# key from `cache-key`); the release archive of the version (by default the action's own version, read
# from its Cargo.toml), checked against its .sha256 (a mismatch is an error, never a reason to build);
# `cargo build --release --locked` of the action's own sources only when HUNKGUARD_VERSION=source or
# when that release has no archive. The release archive carries the CPU ONNX Runtime and the model
# next to the binary, so nothing else is installed. The install folder is appended to $GITHUB_PATH;
# $GITHUB_OUTPUT gets `bin` (the binary) and `bundled-ort` (true when ONNX Runtime came with it).
#
#   scripts/action/install.sh cache-key    prints key=<...> for actions/cache (sources + version + OS)
#
# Variables: HUNKGUARD_VERSION (empty for the action's own version, a release tag such as v0.1.0, or
# "source"), HUNKGUARD_SOURCE (the action's folder, default two levels up), HUNKGUARD_INSTALL_DIR
# (default $RUNNER_TEMP/hunkguard-bin), CARGO_TARGET_DIR (default $RUNNER_TEMP/hunkguard-target),
# HUNKGUARD_RELEASES (download base, default https://github.com/hunkguard/hunkguard/releases/download;
# file:// works too).
set -euo pipefail

log() { printf 'hunkguard: %s\n' "$*" >&2; }
die() { printf '::error title=hunkguard::%s\n' "$*"; log "error: $*"; exit 2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$(cd "${HUNKGUARD_SOURCE:-$here/../..}" && pwd)"
version="${HUNKGUARD_VERSION:-}"
install_dir="${HUNKGUARD_INSTALL_DIR:-${RUNNER_TEMP:-/tmp}/hunkguard-bin}"
releases="${HUNKGUARD_RELEASES:-https://github.com/hunkguard/hunkguard/releases/download}"
target="x86_64-unknown-linux-gnu"

if [ -z "$version" ]; then
  own="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$source_dir/Cargo.toml" 2>/dev/null | head -n1)"
  [ -n "$own" ] || die "no version given and none in $source_dir/Cargo.toml: set version: to a release tag"
  version="v$own"
fi
[[ "$version" = source || "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+([-.][0-9A-Za-z.]+)?$ ]] \
  || die "version must be 'source' or a release tag like v0.1.0, got '$version'"

# The build's identity: OS, CPU, version and a hash of the sources (and the model shipped with them).
cache_key() {
  local hash paths=()
  for p in Cargo.toml Cargo.lock src models; do [ -e "$source_dir/$p" ] && paths+=("$p"); done
  [ "${#paths[@]}" -gt 0 ] || die "no hunkguard sources in $source_dir"
  hash="$(cd "$source_dir" && find "${paths[@]}" -type f -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum | sha256sum | cut -c1-16)"
  echo "hunkguard-$(uname -s)-$(uname -m)-${version}-${hash}"
}
key="$(cache_key)"
if [ "${1:-}" = cache-key ]; then
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "key=$key" >> "$GITHUB_OUTPUT"; else echo "key=$key"; fi
  exit 0
fi

finish() {
  local bin="$1" bundled=false
  "$bin" --version >/dev/null 2>&1 || die "$bin does not run"
  if compgen -G "$(dirname "$bin")/libonnxruntime.so.*" >/dev/null; then bundled=true; fi
  if [ -n "${GITHUB_PATH:-}" ]; then dirname "$bin" >> "$GITHUB_PATH"; fi
  if [ -n "${GITHUB_OUTPUT:-}" ]; then printf 'bin=%s\nbundled-ort=%s\n' "$bin" "$bundled" >> "$GITHUB_OUTPUT"; fi
  log "using $("$bin" --version 2>/dev/null) at $bin"
  exit 0
}

if [ -n "${HUNKGUARD_BIN:-}" ]; then
  [ -x "$HUNKGUARD_BIN" ] || die "HUNKGUARD_BIN=$HUNKGUARD_BIN is not an executable"
  finish "$HUNKGUARD_BIN"
fi
# A binary restored by actions/cache is reused only when it was built from these very sources
# (a partial cache hit restores an older one).
if [ -x "$install_dir/hunkguard" ] && [ "$(cat "$install_dir/.key" 2>/dev/null)" = "$key" ]; then
  finish "$install_dir/hunkguard"
fi
# Only what an install puts there is removed: the folder may be shared with other tools.
mkdir -p "$install_dir"
(cd "$install_dir" && rm -rf hunkguard .key models licenses scripts LICENSE README libonnxruntime*.so*)

if [ "$version" != source ]; then
  name="hunkguard-${version#v}-${target}"
  url="$releases/$version/$name.tar.gz"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  fetch() { curl --fail --silent --show-error --location --retry 3 --proto '=https,file' -o "$2" "$1"; }
  # curl exits 22 on an HTTP error (404: no such release asset) and 37 on a missing file:// file;
  # anything else (network, TLS) is an error, not a reason to spend minutes compiling.
  status=0
  fetch "$url" "$tmp/archive.tar.gz" || status=$?
  if [ "$status" = 0 ]; then
    fetch "$url.sha256" "$tmp/archive.sha256" || die "$url has no checksum file $url.sha256"
    expected="$(cut -d' ' -f1 < "$tmp/archive.sha256")"
    actual="$(sha256sum "$tmp/archive.tar.gz" | cut -d' ' -f1)"
    [[ "$expected" =~ ^[0-9a-f]{64}$ ]] || die "$url.sha256 holds no sha256"
    [ "$expected" = "$actual" ] || die "sha256 mismatch for $url: expected $expected, got $actual"
    tar -xzf "$tmp/archive.tar.gz" -C "$install_dir" --strip-components=1 --no-same-owner
    [ -x "$install_dir/hunkguard" ] || die "$name.tar.gz has no $name/hunkguard"
    echo "$key" > "$install_dir/.key"
    log "installed release $version ($actual)"
    finish "$install_dir/hunkguard"
  elif [ "$status" = 22 ] || [ "$status" = 37 ]; then
    log "release $version has no archive $name.tar.gz; building from source"
  else
    die "downloading $url failed (curl exit $status)"
  fi
fi

command -v cargo >/dev/null \
  || die "cargo is not installed, and building from source needs it: use a release version, or a runner with Rust"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${RUNNER_TEMP:-/tmp}/hunkguard-target}"
log "building hunkguard from $source_dir (cached between runs by actions/cache)"
cargo build --release --locked --manifest-path "$source_dir/Cargo.toml" --bin hunkguard >&2 \
  || die "cargo build failed"
cp "$CARGO_TARGET_DIR/release/hunkguard" "$install_dir/hunkguard"
# The model ships with the sources; keep it next to the binary, where hunkguard looks first.
if [ -f "$source_dir/models/manifest.json" ] && [ ! -e "$install_dir/models" ]; then
  cp -R "$source_dir/models" "$install_dir/models"
fi
echo "$key" > "$install_dir/.key"
finish "$install_dir/hunkguard"
