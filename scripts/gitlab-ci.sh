#!/usr/bin/env bash
# hunkguard in a GitLab merge-request pipeline (the script of examples/gitlab/.gitlab-ci.yml).
#
#   scripts/gitlab-ci.sh [extra `hunkguard review` arguments]
#
# 1. checks that this is a merge-request pipeline;
# 2. makes sure the clone holds the merge-base and the history that connects it to the head
#    (GitLab clones shallow, GIT_DEPTH=20 by default);
# 3. finds the hunkguard binary: HUNKGUARD_BIN, the release archive this script came in (../hunkguard),
#    an earlier install, PATH, or (with cargo, in a source checkout) a build;
# 4. installs ONNX Runtime with scripts/setup-ort.sh (--gpu when HUNKGUARD_DEVICE=cuda) unless
#    ORT_DYLIB_PATH is set or, on the CPU, the binary has one next to it (the release archive does);
# 5. runs `hunkguard review --forge gitlab`, which writes the SAST, Code Quality and JSON reports into
#    $HUNKGUARD_REPORTS_DIR before posting.
# Exits with hunkguard's exit code (0 clean, 1 findings at --fail-on, 2 usage, 3 runtime error).
#
# Variables (all optional): HUNKGUARD_BIN (the binary), HUNKGUARD_INSTALL_ROOT (where to build it,
# default .hunkguard), HUNKGUARD_REPORTS_DIR (default hunkguard-reports), HUNKGUARD_DEVICE
# (auto|cpu|cuda), HUNKGUARD_ORT_DIR (default .ort), HUNKGUARD_SETUP_ORT (the installer script),
# HUNKGUARD_MODEL_DIR, HUNKGUARD_FAIL_ON, HUNKGUARD_ARGS (extra arguments, split on spaces).
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'hunkguard-ci: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

# 1. A merge-request pipeline?
if [ -z "${CI_MERGE_REQUEST_IID:-}" ] || [ -z "${CI_MERGE_REQUEST_DIFF_BASE_SHA:-}" ]; then
  die "not a merge-request pipeline (CI_MERGE_REQUEST_IID / CI_MERGE_REQUEST_DIFF_BASE_SHA are unset); \
run this job with rules: - if: \$CI_PIPELINE_SOURCE == \"merge_request_event\""
fi
base="$CI_MERGE_REQUEST_DIFF_BASE_SHA"
# In merged-results pipelines CI_COMMIT_SHA is a temporary merge commit; the source branch head is
# what the merge request's diff (and its discussions) refer to.
head="${CI_MERGE_REQUEST_SOURCE_BRANCH_SHA:-${CI_COMMIT_SHA:?CI_COMMIT_SHA is not set}}"
repo="${CI_PROJECT_DIR:-$PWD}"
reports_dir="${HUNKGUARD_REPORTS_DIR:-hunkguard-reports}"

# 2. History: the merge-base, and the commits between it and the head.
git_q() { git -C "$repo" "$@"; }
has_commit() { git_q cat-file -e "$1^{commit}" 2>/dev/null; }
connected() { has_commit "$base" && has_commit "$head" && git_q merge-base --is-ancestor "$base" "$head" 2>/dev/null; }
# fetch REF [OPTIONS...]: fetch REF (a sha or branch; empty for the default refspecs) from origin.
fetch() { local ref="$1"; shift; git_q fetch --quiet --no-tags "$@" origin ${ref:+"$ref"}; }

if ! connected; then
  log "the clone lacks ${base:0:12} or its path to ${head:0:12} (GIT_DEPTH=${GIT_DEPTH:-unset}); fetching"
  has_commit "$head" || fetch "$head" --depth=50 || true
  # GitLab (Gitaly) serves any reachable commit by sha; else fall back to the target branch.
  has_commit "$base" || fetch "$base" --depth=1 \
    || { [ -n "${CI_MERGE_REQUEST_TARGET_BRANCH_NAME:-}" ] && fetch "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME" --depth=50; } \
    || true
  for depth in 50 200 1000; do
    connected && break
    if [ "$(git_q rev-parse --is-shallow-repository)" != true ]; then break; fi
    fetch "$head" --deepen="$depth" || true
  done
  if ! connected && [ "$(git_q rev-parse --is-shallow-repository)" = true ]; then
    fetch "$head" --unshallow || fetch "" --unshallow || true
  fi
  connected || die "cannot get the merge-base ${base} and its history to ${head} into the clone; \
set GIT_DEPTH: 0 on the job (or a depth that covers the merge request's commits)"
fi

# 3. The binary.
bin="${HUNKGUARD_BIN:-}"
if [ -z "$bin" ]; then
  install_root="${HUNKGUARD_INSTALL_ROOT:-.hunkguard}"
  if [ -x "$script_dir/../hunkguard" ]; then
    bin="$(cd "$script_dir/.." && pwd)/hunkguard"
  elif [ -x "$install_root/bin/hunkguard" ]; then
    bin="$install_root/bin/hunkguard"
  elif command -v hunkguard >/dev/null 2>&1; then
    bin="$(command -v hunkguard)"
  elif command -v cargo >/dev/null 2>&1 && [ -f "$script_dir/../Cargo.toml" ]; then
    log "building hunkguard into $install_root (cached after the first run)"
    cargo install --locked --quiet --path "$script_dir/.." --root "$install_root" >&2
    bin="$install_root/bin/hunkguard"
  else
    die "no hunkguard binary: use the release archive (examples/gitlab/.gitlab-ci.yml), set HUNKGUARD_BIN, or put hunkguard on PATH"
  fi
fi

# 4. ONNX Runtime.
bundled_ort=""
if [ "${HUNKGUARD_DEVICE:-auto}" != cuda ]; then
  bundled_ort="$(ls "$(dirname "$bin")"/libonnxruntime.so.* 2>/dev/null | head -n1 || true)"
fi
if [ -n "${ORT_DYLIB_PATH:-}" ]; then
  log "ONNX Runtime: $ORT_DYLIB_PATH (ORT_DYLIB_PATH)"
elif [ -n "$bundled_ort" ]; then
  log "ONNX Runtime: $bundled_ort (next to the binary)"
else
  setup_ort="${HUNKGUARD_SETUP_ORT:-$script_dir/setup-ort.sh}"
  ort_args=()
  if [ "${HUNKGUARD_DEVICE:-auto}" = cuda ]; then ort_args+=(--gpu); fi
  ort_dir="${HUNKGUARD_ORT_DIR:-.ort}"
  log "installing ONNX Runtime into $ort_dir"
  ORT_DYLIB_PATH="$("$setup_ort" ${ort_args[@]+"${ort_args[@]}"} "$ort_dir" | tail -n 1)"
  [ -n "$ORT_DYLIB_PATH" ] || die "$setup_ort printed no library path"
  export ORT_DYLIB_PATH
  if [ -f "$ort_dir/cuda-library-path" ]; then
    LD_LIBRARY_PATH="$(cat "$ort_dir/cuda-library-path")${LD_LIBRARY_PATH:-}"
    export LD_LIBRARY_PATH
  fi
fi

if [ -z "${HUNKGUARD_MODEL_DIR:-}" ] && [ -f "$script_dir/../models/manifest.json" ]; then
  HUNKGUARD_MODEL_DIR="$(cd "$script_dir/../models" && pwd)"
  export HUNKGUARD_MODEL_DIR
fi

args=(review --forge gitlab --repo "$repo" --reports-dir "$reports_dir")
if [ -n "${HUNKGUARD_FAIL_ON:-}" ]; then args+=(--fail-on "$HUNKGUARD_FAIL_ON"); fi
# shellcheck disable=SC2206 # HUNKGUARD_ARGS is split on purpose.
if [ -n "${HUNKGUARD_ARGS:-}" ]; then args+=($HUNKGUARD_ARGS); fi
args+=("$@")

log "reviewing ${base:0:12}..${head:0:12} of merge request !$CI_MERGE_REQUEST_IID"
status=0
"$bin" "${args[@]}" || status=$?
log "hunkguard exited with $status; reports in $reports_dir/"
exit "$status"
