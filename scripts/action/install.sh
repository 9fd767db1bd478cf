#!/usr/bin/env bash
# Put a hunkguard binary on the PATH of the job.
#
#   scripts/action/install.sh
#
# In order: an existing binary (HUNKGUARD_BIN); a cached one in the install folder built from the same
# sources (cache key from `cache-key`); the prebuilt release archive of HUNKGUARD_VERSION when it is a
# release tag; else `cargo build --release --locked` of the action's own sources. The install folder is
# appended to $GITHUB_PATH and the binary path goes to $GITHUB_OUTPUT as `bin`.
#
#   scripts/action/install.sh cache-key    prints key=<...> for actions/cache (sources + version + OS)
#
# Variables: HUNKGUARD_VERSION (release tag such as v0.1.0, or "source"; default source),
# HUNKGUARD_SOURCE (the action's folder, default two levels up), HUNKGUARD_INSTALL_DIR (default
# $RUNNER_TEMP/hunkguard-bin), CARGO_TARGET_DIR (default $RUNNER_TEMP/hunkguard-target),
# HUNKGUARD_RELEASES (download base, default https://github.com/hunkguard/hunkguard/releases/download).
set -euo pipefail

log() { printf 'hunkguard: %s\n' "$*" >&2; }
die() { printf '::error title=hunkguard::%s\n' "$*"; log "error: $*"; exit 2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$(cd "${HUNKGUARD_SOURCE:-$here/../..}" && pwd)"
version="${HUNKGUARD_VERSION:-source}"
install_dir="${HUNKGUARD_INSTALL_DIR:-${RUNNER_TEMP:-/tmp}/hunkguard-bin}"
releases="${HUNKGUARD_RELEASES:-https://github.com/hunkguard/hunkguard/releases/download}"
target="x86_64-unknown-linux-gnu"

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
  local bin="$1"
  "$bin" --version >/dev/null 2>&1 || die "$bin does not run"
  if [ -n "${GITHUB_PATH:-}" ]; then dirname "$bin" >> "$GITHUB_PATH"; fi
  if [ -n "${GITHUB_OUTPUT:-}" ]; then echo "bin=$bin" >> "$GITHUB_OUTPUT"; fi
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
rm -rf "$install_dir/hunkguard" "$install_dir/.key" "$install_dir/models"
mkdir -p "$install_dir"

if [ "$version" != source ]; then
  archive="hunkguard-${version}-${target}.tar.gz"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  if curl --fail --silent --show-error --location --retry 3 -o "$tmp/$archive" "$releases/$version/$archive"; then
    tar -xzf "$tmp/$archive" -C "$install_dir"
    [ -x "$install_dir/hunkguard" ] || die "$archive has no hunkguard binary at its top level"
    echo "$key" > "$install_dir/.key"
    finish "$install_dir/hunkguard"
  fi
  log "no prebuilt $archive for $version; building from source"
fi

command -v cargo >/dev/null || die "cargo is not installed: use a runner with Rust, or a release version"
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
