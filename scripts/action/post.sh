#!/usr/bin/env bash
# Run `hunkguard post` with the inputs of the post/ action (the workflow_run half of the fork-safe pair).
#
#   scripts/action/post.sh
#
# The report is data from another, untrusted workflow: it is only read, never executed, and hunkguard
# checks the pull request's current head against the triggering run's head sha before posting.
#
# Variables: HUNKGUARD (the binary, default hunkguard on PATH), HUNKGUARD_FINDINGS (the JSON report;
# pr.json next to it names the pull request), HUNKGUARD_PR, HUNKGUARD_MAX_COMMENTS, HUNKGUARD_FAIL_ON,
# HUNKGUARD_STRICT (true|false).
set -euo pipefail

die() { printf '::error title=hunkguard::%s\n' "$*"; printf 'hunkguard: error: %s\n' "$*" >&2; exit 2; }

bin="${HUNKGUARD:-hunkguard}"
findings="${HUNKGUARD_FINDINGS:-}"
[ -n "$findings" ] || die "input findings is empty: give the path of the downloaded hunkguard.json"
[ -f "$findings" ] || die "input findings: no such file '$findings' (did the artifact download work?)"
args=(post --findings "$findings")
if [ -n "${HUNKGUARD_PR:-}" ]; then
  [[ "$HUNKGUARD_PR" =~ ^[1-9][0-9]*$ ]] || die "input pr must be a pull request number, got '$HUNKGUARD_PR'"
  args+=(--pr "$HUNKGUARD_PR")
fi
if [ -n "${HUNKGUARD_MAX_COMMENTS:-}" ]; then
  [[ "$HUNKGUARD_MAX_COMMENTS" =~ ^[0-9]+$ ]] \
    || die "input max-comments must be a whole number, got '$HUNKGUARD_MAX_COMMENTS'"
  args+=(--max-comments "$HUNKGUARD_MAX_COMMENTS")
fi
case "${HUNKGUARD_FAIL_ON:-never}" in
  low|medium|high|critical|never) args+=(--fail-on "${HUNKGUARD_FAIL_ON:-never}") ;;
  *) die "input fail-on must be low, medium, high, critical or never, got '$HUNKGUARD_FAIL_ON'" ;;
esac
case "${HUNKGUARD_STRICT:-false}" in
  true) args+=(--strict) ;;
  false) ;;
  *) die "input strict must be true or false, got '$HUNKGUARD_STRICT'" ;;
esac

printf 'hunkguard: running %s %s\n' "$bin" "${args[*]}" >&2
exec "$bin" "${args[@]}"
