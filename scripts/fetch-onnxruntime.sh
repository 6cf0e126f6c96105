#!/usr/bin/env bash
# Fetch the ONNX Runtime shared library that Vigil loads at run time (ort crate,
# `load-dynamic`), from the official PyPI `onnxruntime` wheel, pinned by version and
# sha256. Needs only python3 with pip (Debian: apt-get install python3-pip) and access
# to PyPI (or a mirror set with PIP_INDEX_URL).
#
# usage: scripts/fetch-onnxruntime.sh [DIR]     (default: ./runtime)
# Prints the absolute path of the library; point ORT_DYLIB_PATH at it. Idempotent: a
# second run verifies the existing file and downloads nothing.
#
# ONNX Runtime 1.31.1 = C API version 31 (ORT_API_VERSION). The ort crate
# 2.0.0-rc.15 (what vigil-vision pins) targets ONNX Runtime 1.31, so this is its own
# version; its `api-N` features set the minimum API level it asks the library for.
set -euo pipefail

VERSION=1.31.1
DIR="${1:-./runtime}"

case "$(uname -m)" in
  x86_64 | amd64)
    PLATFORM=manylinux_2_28_x86_64
    WHEEL_SHA=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
    LIB_SHA=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3 ;;
  aarch64 | arm64)
    PLATFORM=manylinux_2_28_aarch64
    WHEEL_SHA=da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3
    LIB_SHA=8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467 ;;
  *) echo "fetch-onnxruntime: unsupported architecture $(uname -m)" >&2; exit 1 ;;
esac
# The wheel is chosen by tag, not by the local Python, so the pinned hash holds on any
# python3 version. The library inside does not depend on Python.
WHEEL="onnxruntime-${VERSION}-cp311-cp311-${PLATFORM}.whl"
LIB="libonnxruntime.so.${VERSION}"

mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"

if [ -f "$DIR/$LIB" ] && echo "$LIB_SHA  $DIR/$LIB" | sha256sum -c --status; then
  ln -sf "$LIB" "$DIR/libonnxruntime.so"
  echo "$DIR/$LIB"
  exit 0
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
  echo "fetch-onnxruntime: python3 -m pip is not available (Debian: apt-get install python3-pip)" >&2
  exit 1
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --implementation cp --python-version 3.11 --abi cp311 --platform "$PLATFORM" \
  -d "$TMP" "onnxruntime==${VERSION}" >&2
if ! echo "$WHEEL_SHA  $TMP/$WHEEL" | sha256sum -c --status; then
  echo "fetch-onnxruntime: sha256 mismatch for $WHEEL" >&2
  exit 1
fi
PART="$DIR/.$LIB.part"
python3 -c '
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[3]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
' "$TMP/$WHEEL" "$PART" "onnxruntime/capi/$LIB"
if ! echo "$LIB_SHA  $PART" | sha256sum -c --status; then
  rm -f "$PART"
  echo "fetch-onnxruntime: library sha256 mismatch" >&2
  exit 1
fi
chmod 0755 "$PART"
mv -f "$PART" "$DIR/$LIB"  # same directory: atomic
ln -sf "$LIB" "$DIR/libonnxruntime.so"
echo "$DIR/$LIB"
