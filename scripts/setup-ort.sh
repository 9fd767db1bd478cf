#!/usr/bin/env bash
# Install the ONNX Runtime shared library that hunkguard loads at run time.
#
#   scripts/setup-ort.sh [--gpu] [DIR]     (DIR defaults to .ort/ in the current directory)
#
# ort is built with `load-dynamic`, so nothing is linked at build time. ONNX Runtime's own download
# server is unreachable on many locked-down runners, but PyPI is not: the `onnxruntime` wheel carries
# the plain C library (capi/libonnxruntime.so.*). We fetch the wheel with pip and unzip that library.
# With --gpu, the `onnxruntime-gpu` wheel adds the CUDA provider; the CUDA 13 / cuDNN libraries come
# from NVIDIA's wheels, installed into DIR/cuda, and the script prints the LD_LIBRARY_PATH they need.
# The wheel's licence files (LICENSE, ThirdPartyNotices.txt) go to DIR/licenses/, for redistribution.
# Prints the absolute path of libonnxruntime.so.* on its last line.
set -euo pipefail
. "$(dirname "$0")/retry.sh"

ORT_VERSION="${ORT_VERSION:-1.31.1}"
gpu=0
dir=""
for arg in "$@"; do
  case "$arg" in
    --gpu) gpu=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) dir="$arg" ;;
  esac
done
dir="${dir:-.ort}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
python="${PYTHON:-python3}"

if [ "$gpu" = 1 ]; then package="onnxruntime-gpu"; else package="onnxruntime"; fi
existing=$(ls "$dir"/libonnxruntime.so.* 2>/dev/null | head -n1 || true)
if [ -n "$existing" ] && [ -f "$dir/licenses/LICENSE" ] && [ -f "$dir/.package" ] \
  && [ "$(cat "$dir/.package")" = "$package==$ORT_VERSION" ]; then
  echo "$existing"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}{sys.version_info[1]}")')
retry 4 "$python" -m pip download --quiet --no-deps --only-binary=:all: \
  --python-version "$pyver" --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 -d "$tmp" "$package==$ORT_VERSION" >&2
wheel=$(ls "$tmp"/*.whl | head -n1)
"$python" - "$wheel" "$dir" <<'PY'
import sys, zipfile, os
wheel, out = sys.argv[1], sys.argv[2]
licenses = os.path.join(out, "licenses")
os.makedirs(licenses, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        base = os.path.basename(name)
        if "/capi/" in name and base.startswith("libonnxruntime"):
            target = os.path.join(out, base)
        elif name.count("/") == 1 and base in ("LICENSE", "ThirdPartyNotices.txt"):
            target = os.path.join(licenses, base)
        else:
            continue
        with z.open(name) as src, open(target, "wb") as dst:
            dst.write(src.read())
PY
echo "$package==$ORT_VERSION" > "$dir/.package"

if [ "$gpu" = 1 ]; then
  retry 4 "$python" -m pip install --quiet --target "$dir/cuda" "onnxruntime-gpu[cuda,cudnn]==$ORT_VERSION" >&2
  libs=$(find "$dir/cuda/nvidia" -type d -name lib 2>/dev/null | tr '\n' ':')
  echo "CUDA libraries installed; run hunkguard with:" >&2
  echo "  export LD_LIBRARY_PATH=${libs}\${LD_LIBRARY_PATH:-}" >&2
  printf '%s\n' "$libs" > "$dir/cuda-library-path"
fi

ls "$dir"/libonnxruntime.so.* | head -n1
