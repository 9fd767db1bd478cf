#!/usr/bin/env bash
# Check the pre-commit hook end to end with `pre-commit try-repo` (slow and needs pre-commit from
# PyPI, so it is not part of scripts/test.sh): a staged vulnerable file fails, a safe one passes.
#
#   scripts/check-pre-commit.sh
#
# Packs the release archive (scripts/package.sh; HUNKGUARD_BINARY reuses a built binary) into a
# temporary file:// release folder, installs pre-commit into a temporary venv (PRE_COMMIT reuses an
# installed one), and runs `pre-commit try-repo <this checkout> hunkguard` in a temporary git repo.
# The hook installs the archive from that folder exactly as it would from a GitHub release.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
version="v$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n1)"

bash "$root/scripts/package.sh" "$work/release/$version" >/dev/null
pre_commit="${PRE_COMMIT:-}"
if [ -z "$pre_commit" ]; then
  python3 -m venv "$work/venv"
  "$work/venv/bin/python" -m pip install --quiet pre-commit
  pre_commit="$work/venv/bin/pre-commit"
fi
export PRE_COMMIT_HOME="$work/pre-commit-home" HUNKGUARD_CACHE_DIR="$work/hunkguard-cache"
export HUNKGUARD_RELEASES="file://$work/release"

repo="$work/repo"
git init -q -b main "$repo"
printf 'import os\nfrom flask import request\n\n\ndef ping():\n    host = request.args.get("host", "")\n    os.system("ping -c 1 " + host)\n' \
  > "$repo/views.py"
printf 'def add(a, b):\n    return a + b\n' > "$repo/util.py"

try() { (cd "$repo" && "$pre_commit" try-repo "$root" hunkguard); }
git -C "$repo" add views.py
status=0
try || status=$?
[ "$status" = 1 ] || { echo "FAIL: the vulnerable staged file should fail the hook (exit $status)"; exit 1; }
git -C "$repo" rm -q --cached views.py
git -C "$repo" add util.py
try || { echo "FAIL: the safe staged file should pass the hook"; exit 1; }
echo "pre-commit try-repo: the vulnerable file is blocked, the safe one passes"
