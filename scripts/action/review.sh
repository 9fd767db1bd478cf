#!/usr/bin/env bash
# Run `hunkguard review` with the action's inputs.
#
#   scripts/action/review.sh
#
# action.yml passes every input as an environment variable (never spliced into the script, so a crafted
# input cannot run commands). Inputs are checked here; a bad one stops with an error naming it.
# `hunkguard review` writes SARIF + JSON reports first, sets the step outputs (findings, sarif-file)
# in $GITHUB_OUTPUT, then posts one review; its exit code (0 clean, 1 findings at fail-on, 2 usage,
# 3 runtime error) is this step's.
#
# Variables: HUNKGUARD (the binary, default hunkguard on PATH), HUNKGUARD_FAIL_ON, HUNKGUARD_MIN_CONFIDENCE,
# HUNKGUARD_CONFIG, HUNKGUARD_DEVICE, HUNKGUARD_MAX_COMMENTS, HUNKGUARD_UPLOAD_SARIF (true|false),
# HUNKGUARD_SARIF_FILE, HUNKGUARD_JSON_FILE, HUNKGUARD_REPORTS_DIR, HUNKGUARD_POST (true|false),
# HUNKGUARD_STRICT (true|false), HUNKGUARD_MODEL_DIR (read by hunkguard itself).
set -euo pipefail

die() { printf '::error title=hunkguard::%s\n' "$*"; printf 'hunkguard: error: %s\n' "$*" >&2; exit 2; }
bool() {
  case "${2:-false}" in
    true|false) ;;
    *) die "input $1 must be true or false, got '${2}'" ;;
  esac
}

# Empty inputs arrive as empty variables; hunkguard reads HUNKGUARD_MODEL_DIR itself, so drop it when empty.
if [ -z "${HUNKGUARD_MODEL_DIR:-}" ]; then unset HUNKGUARD_MODEL_DIR; fi
bin="${HUNKGUARD:-hunkguard}"
args=(review --forge github)

if [ -n "${HUNKGUARD_FAIL_ON:-}" ]; then
  case "$HUNKGUARD_FAIL_ON" in
    low|medium|high|critical|never) args+=(--fail-on "$HUNKGUARD_FAIL_ON") ;;
    *) die "input fail-on must be low, medium, high, critical or never, got '$HUNKGUARD_FAIL_ON'" ;;
  esac
fi
if [ -n "${HUNKGUARD_MIN_CONFIDENCE:-}" ]; then
  [[ "$HUNKGUARD_MIN_CONFIDENCE" =~ ^(0(\.[0-9]+)?|1(\.0+)?)$ ]] \
    || die "input min-confidence must be a number between 0 and 1, got '$HUNKGUARD_MIN_CONFIDENCE'"
  args+=(--min-confidence "$HUNKGUARD_MIN_CONFIDENCE")
fi
if [ -n "${HUNKGUARD_CONFIG:-}" ]; then
  [ -f "$HUNKGUARD_CONFIG" ] || die "input config: no such file '$HUNKGUARD_CONFIG'"
  args+=(--config "$HUNKGUARD_CONFIG")
fi
case "${HUNKGUARD_DEVICE:-auto}" in
  auto|cpu|cuda) args+=(--device "${HUNKGUARD_DEVICE:-auto}") ;;
  *) die "input device must be auto, cpu or cuda, got '$HUNKGUARD_DEVICE'" ;;
esac
if [ -n "${HUNKGUARD_MAX_COMMENTS:-}" ]; then
  [[ "$HUNKGUARD_MAX_COMMENTS" =~ ^[0-9]+$ ]] \
    || die "input max-comments must be a whole number, got '$HUNKGUARD_MAX_COMMENTS'"
  args+=(--max-comments "$HUNKGUARD_MAX_COMMENTS")
fi
bool upload-sarif "${HUNKGUARD_UPLOAD_SARIF:-false}"
[ "${HUNKGUARD_UPLOAD_SARIF:-false}" = true ] && args+=(--upload-sarif)
bool post "${HUNKGUARD_POST:-true}"
[ "${HUNKGUARD_POST:-true}" = false ] && args+=(--dry-run)
bool strict "${HUNKGUARD_STRICT:-false}"
[ "${HUNKGUARD_STRICT:-false}" = true ] && args+=(--strict)
[ -n "${HUNKGUARD_SARIF_FILE:-}" ] && args+=(--sarif "$HUNKGUARD_SARIF_FILE")
[ -n "${HUNKGUARD_JSON_FILE:-}" ] && args+=(--json "$HUNKGUARD_JSON_FILE")
[ -n "${HUNKGUARD_REPORTS_DIR:-}" ] && args+=(--reports-dir "$HUNKGUARD_REPORTS_DIR")
# The job log is not a terminal; the findings are in the annotations, the review and the reports.
args+=(--no-progress)

printf 'hunkguard: running %s %s\n' "$bin" "${args[*]}" >&2
exec "$bin" "${args[@]}"
