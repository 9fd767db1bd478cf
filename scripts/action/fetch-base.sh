#!/usr/bin/env bash
# Make sure a (shallow) checkout holds the pull request's base and head commits and their merge-base.
#
#   scripts/action/fetch-base.sh [BASE_SHA HEAD_SHA]
#
# actions/checkout fetches one commit by default (the PR's merge commit), so neither the head commit
# nor the merge-base that `hunkguard review` diffs from is there. This fetches both shas from origin
# (GitHub serves any reachable commit by sha), deepens the history until their merge-base appears, and
# as a last resort unshallows. If that fails it stops with an error that says to use `fetch-depth: 0`:
# reviewing nothing silently is never an option.
#
# Variables: HUNKGUARD_BASE_SHA / HUNKGUARD_HEAD_SHA (when no arguments are given; the action passes
# github.event.pull_request.base.sha and .head.sha), HUNKGUARD_FETCH_DEPTH (first depth tried,
# default 50), HUNKGUARD_REPO (the checkout, default .).
set -euo pipefail

log() { printf 'hunkguard: %s\n' "$*" >&2; }
die() {
  # A workflow command, so the reason shows on the run page, then a plain line for local runs.
  printf '::error title=hunkguard::%s\n' "$*"
  log "error: $*"
  exit 2
}

base="${1:-${HUNKGUARD_BASE_SHA:-}}"
head="${2:-${HUNKGUARD_HEAD_SHA:-}}"
repo="${HUNKGUARD_REPO:-.}"
first_depth="${HUNKGUARD_FETCH_DEPTH:-50}"

[ -n "$base" ] && [ -n "$head" ] \
  || die "no base/head commit: run this action on pull_request events (github.event.pull_request is empty)"
for sha in "$base" "$head"; do
  [[ "$sha" =~ ^[0-9a-f]{40}([0-9a-f]{24})?$ ]] || die "not a commit sha: '$sha'"
done
[[ "$first_depth" =~ ^[1-9][0-9]*$ ]] || die "HUNKGUARD_FETCH_DEPTH must be a positive number, got '$first_depth'"

g() { git -C "$repo" "$@"; }
has_commit() { g cat-file -e "$1^{commit}" 2>/dev/null; }
ready() { has_commit "$base" && has_commit "$head" && g merge-base "$base" "$head" >/dev/null 2>&1; }
shallow() { [ "$(g rev-parse --is-shallow-repository)" = true ]; }

if ready; then
  log "base ${base:0:12}, head ${head:0:12} and their merge-base are present"
  exit 0
fi

if ! shallow; then
  log "fetching ${base:0:12} and ${head:0:12} from origin"
  g fetch --quiet --no-tags origin "$base" "$head" || true
else
  for depth in "$first_depth" 200 1000; do
    log "shallow checkout: fetching ${base:0:12} and ${head:0:12} with --depth=$depth"
    g fetch --quiet --no-tags --depth="$depth" origin "$base" "$head" || true
    if ready; then break; fi
  done
  if ! ready && shallow; then
    log "still no merge-base; fetching the whole history of both commits"
    g fetch --quiet --no-tags --unshallow origin "$base" "$head" || true
  fi
fi

ready || die "the base commit ${base} (or its merge-base with ${head}) is not in this checkout and could \
not be fetched from origin. Check out with actions/checkout and 'fetch-depth: 0'."
log "merge-base $(g merge-base "$base" "$head" | cut -c1-12) is present"
