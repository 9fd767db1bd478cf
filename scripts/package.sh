#!/usr/bin/env bash
# Build the release archive: a folder that runs with nothing else installed (no Python, no Rust, no
# network), packed as OUTDIR/hunkguard-<version>-x86_64-unknown-linux-gnu.tar.gz plus its .sha256.
#
#   scripts/package.sh OUTDIR
#
# The archive holds one folder, hunkguard-<version>-x86_64-unknown-linux-gnu/, with:
#   hunkguard                        the stripped binary (it looks next to itself for ONNX Runtime and models/)
#   libonnxruntime.so.*              the CPU ONNX Runtime, from the pinned PyPI wheel (scripts/setup-ort.sh)
#   licenses/onnxruntime/            that wheel's LICENSE and ThirdPartyNotices.txt
#   models/                          the shipped model
#   scripts/gitlab-ci.sh, scripts/setup-ort.sh (+ retry.sh)   the GitLab CI entry point; the GPU runtime installer
#   LICENSE, README
# The .sha256 file is in `sha256sum` format: `sha256sum -c` checks it in OUTDIR.
#
# Variables: HUNKGUARD_BINARY (a hunkguard binary built already, e.g. by the release workflow or the
# tests; default: `cargo build --release --locked`), HUNKGUARD_ORT_DIR (the ONNX Runtime folder,
# filled by scripts/setup-ort.sh when incomplete; default target/package/ort), SOURCE_DATE_EPOCH
# (file times in the archive; default the last commit's time, so the same inputs give the same bytes).
set -euo pipefail

log() { printf 'package: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ $# -eq 1 ] || die "usage: scripts/package.sh OUTDIR"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$1"
outdir="$(cd "$1" && pwd)"
target="x86_64-unknown-linux-gnu"
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || die "this packs the $target archive; run it on Linux x86_64"

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)"
[ -n "$version" ] || die "no version in $root/Cargo.toml"
name="hunkguard-${version}-${target}"

binary="${HUNKGUARD_BINARY:-}"
if [ -z "$binary" ]; then
  log "building the release binary"
  cargo build --release --locked --manifest-path "$root/Cargo.toml" --bin hunkguard >&2
  binary="${CARGO_TARGET_DIR:-$root/target}/release/hunkguard"
fi
[ -x "$binary" ] || die "no hunkguard binary at $binary"
reported="$("$binary" --version)"
[ "$reported" = "hunkguard $version" ] || die "$binary says '$reported', not 'hunkguard $version' (a stale build?)"

ort_dir="${HUNKGUARD_ORT_DIR:-$root/target/package/ort}"
library="$(bash "$root/scripts/setup-ort.sh" "$ort_dir" | tail -n1)"
[ -f "$library" ] && [ -f "$ort_dir/licenses/LICENSE" ] \
  || die "ONNX Runtime in $ort_dir is incomplete (library or licences missing)"

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
dest="$stage/$name"
mkdir -p "$dest/licenses/onnxruntime" "$dest/scripts"
cp "$binary" "$dest/hunkguard"
# The release profile strips already; a debug binary (the tests package one) is stripped here.
strip --strip-unneeded "$dest/hunkguard" 2>/dev/null || log "could not strip $binary (no strip, or not an ELF file); packed as built"
cp "$ort_dir"/libonnxruntime*.so* "$dest/"
cp "$ort_dir"/licenses/* "$dest/licenses/onnxruntime/"
cp -R "$root/models" "$dest/models"
cp "$root/scripts/gitlab-ci.sh" "$root/scripts/setup-ort.sh" "$root/scripts/retry.sh" "$dest/scripts/"
cp "$root/LICENSE" "$dest/LICENSE"
cat > "$dest/README" <<EOF
hunkguard $version ($target)

hunkguard reviews the Python lines a pull/merge request changes for security weaknesses (CWEs) with a
small model that runs on this machine: no code leaves it. This folder needs nothing else installed.

  ./hunkguard check path/to/code          review whole files or directories
  ./hunkguard scan --base origin/main      review the changes of a branch
  ./hunkguard --help

hunkguard finds the ONNX Runtime library (libonnxruntime.so.*) and models/ next to itself.
For a CUDA GPU, install the GPU runtime with scripts/setup-ort.sh --gpu and pass --ort-lib.
GitLab CI: scripts/gitlab-ci.sh (see examples/gitlab/.gitlab-ci.yml in the repository).

Licences: hunkguard is MIT (LICENSE). ONNX Runtime is MIT, (c) Microsoft Corporation, with the
third-party notices in licenses/onnxruntime/.
Documentation: https://github.com/hunkguard/hunkguard
EOF

epoch="${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}"
archive="$outdir/$name.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" -C "$stage" -cf - "$name" \
  | gzip -9 -n > "$archive"
(cd "$outdir" && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
log "$(du -h "$archive" | cut -f1) $archive"
echo "$archive"
