#!/usr/bin/env bash
# The pre-commit hook (.pre-commit-hooks.yaml): `hunkguard check` on the files pre-commit passes.
#
#   scripts/pre-commit.sh [hunkguard check options] FILE...
#
# Installs hunkguard of this hook repository's version once, with the action's installer
# (scripts/action/install.sh: the release archive, sha256-checked; a cargo build only when the
# release has no archive) into ${XDG_CACHE_HOME:-~/.cache}/hunkguard/<version>, then runs it. The
# exit code is hunkguard's: 1 (findings at fail_on) blocks the commit.
#
# Variables: HUNKGUARD_VERSION (default: the hook's own version), HUNKGUARD_RELEASES (download base),
# HUNKGUARD_CACHE_DIR (default ${XDG_CACHE_HOME:-$HOME/.cache}/hunkguard).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source_dir="$(cd "$here/.." && pwd)"
version="${HUNKGUARD_VERSION:-v$(sed -n 's/^version = "\(.*\)"$/\1/p' "$source_dir/Cargo.toml" | head -n1)}"
install_dir="${HUNKGUARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hunkguard}/$version"

# The installer logs to stderr; GITHUB_* are unset here, so it writes nothing else.
HUNKGUARD_VERSION="$version" HUNKGUARD_SOURCE="$source_dir" HUNKGUARD_INSTALL_DIR="$install_dir" \
  CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$install_dir/target}" GITHUB_PATH='' GITHUB_OUTPUT='' \
  bash "$source_dir/scripts/action/install.sh" >&2
exec "$install_dir/hunkguard" check --no-progress "$@"
