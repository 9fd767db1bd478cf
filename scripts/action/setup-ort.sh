#!/usr/bin/env bash
# Install ONNX Runtime for the action and point hunkguard at it through $GITHUB_ENV.
#
#   scripts/action/setup-ort.sh
#
# Runs the project's installer (scripts/setup-ort.sh, which unpacks the library from the PyPI wheel:
# onnxruntime==1.31.1 on CPU, onnxruntime-gpu with the CUDA 13 wheels for `device: cuda`) into a folder
# that actions/cache keeps between runs, then exports ORT_DYLIB_PATH (and LD_LIBRARY_PATH for CUDA).
#
# Variables: HUNKGUARD_DEVICE (auto|cpu|cuda, default auto: auto and cpu install the CPU library),
# HUNKGUARD_ORT_DIR (default $RUNNER_TEMP/hunkguard-ort), HUNKGUARD_SETUP_ORT (the installer, default
# the one next to this script), GITHUB_ENV (where the variables go; printed when unset).
set -euo pipefail

log() { printf 'hunkguard: %s\n' "$*" >&2; }
die() { printf '::error title=hunkguard::%s\n' "$*"; log "error: $*"; exit 2; }

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
installer="${HUNKGUARD_SETUP_ORT:-$here/../setup-ort.sh}"
device="${HUNKGUARD_DEVICE:-auto}"
dir="${HUNKGUARD_ORT_DIR:-${RUNNER_TEMP:-/tmp}/hunkguard-ort}"

flags=()
case "$device" in
  auto|cpu) ;;
  cuda) flags+=(--gpu) ;;
  *) die "device must be auto, cpu or cuda, got '$device'" ;;
esac
[ -x "$installer" ] || [ -f "$installer" ] || die "ONNX Runtime installer not found: $installer"

output="$(bash "$installer" "${flags[@]}" "$dir")" || die "installing ONNX Runtime failed (see the log above)"
library="$(printf '%s\n' "$output" | tail -n1)"
[ -f "$library" ] || die "the installer did not produce the library (it printed '$library')"

emit() {
  if [ -n "${GITHUB_ENV:-}" ]; then printf '%s=%s\n' "$1" "$2" >> "$GITHUB_ENV"; else printf 'export %s=%q\n' "$1" "$2"; fi
}
emit ORT_DYLIB_PATH "$library"
if [ "$device" = cuda ] && [ -f "$dir/cuda-library-path" ]; then
  emit LD_LIBRARY_PATH "$(cat "$dir/cuda-library-path")${LD_LIBRARY_PATH:-}"
fi
log "ONNX Runtime: $library"
