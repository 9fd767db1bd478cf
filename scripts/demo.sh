#!/usr/bin/env bash
# The main job on an embedded default: build hunkguard, make a small real git repository whose
# feature branch adds vulnerable Python next to safe changes (and keeps an old vulnerable line that
# the branch does not touch), and review the branch with the shipped model in models/.
#
#   scripts/demo.sh [--keep]      needs: Rust (cargo) and Python 3 with pip.
#
# Writes text to stdout and SARIF / JSON / GitLab reports to ./demo-reports/.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

export ORT_DYLIB_PATH="$(bash scripts/setup-ort.sh .ort | tail -n1)"
cargo build --release --locked --quiet
bin="$root/target/release/hunkguard"

repo=$(mktemp -d)
[ "${1:-}" = "--keep" ] && echo "demo repository: $repo" >&2 || trap 'rm -rf "$repo"' EXIT
git() { command git -C "$repo" -c user.name=demo -c user.email=demo@example.com "$@"; }

git init -q -b main
mkdir -p "$repo/shop"
cat > "$repo/shop/db.py" <<'PY'
import sqlite3


def connect(path):
    return sqlite3.connect(path)


def legacy_lookup(conn, name):
    return conn.execute("SELECT * FROM users WHERE name = '" + name + "'").fetchall()
PY
cat > "$repo/shop/views.py" <<'PY'
from flask import Flask, request

app = Flask(__name__)


@app.route("/health")
def health():
    return "ok"
PY
git add -A && git commit -q -m "base"

git checkout -q -b feature
cat >> "$repo/shop/db.py" <<'PY'


def find_orders(conn, customer):
    query = f"SELECT id, total FROM orders WHERE customer = '{customer}'"
    return conn.execute(query).fetchall()


def find_invoices(conn, customer):
    return conn.execute("SELECT id FROM invoices WHERE customer = ?", (customer,)).fetchall()
PY
cat >> "$repo/shop/views.py" <<'PY'


@app.route("/ping")
def ping():
    host = request.args.get("host", "")
    import os
    os.system("ping -c 1 " + host)
    return "sent"


@app.route("/report")
def report():
    import subprocess
    out = subprocess.run(["uptime"], capture_output=True, text=True)
    return out.stdout
PY
git add -A && git commit -q -m "orders, ping and report endpoints"

mkdir -p demo-reports
set +e
"$bin" scan --repo "$repo" --base main \
  --sarif demo-reports/hunkguard.sarif --json demo-reports/hunkguard.json \
  --gitlab-sast demo-reports/gl-sast-report.json --codequality demo-reports/gl-code-quality-report.json
code=$?
set -e
echo "exit code: $code (1 = findings at or above --fail-on high); reports in demo-reports/" >&2
[ "$code" -le 1 ]
