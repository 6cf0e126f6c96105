#!/usr/bin/env bash
# The benchmark of the vision acceptance point, end to end:
#   1. builds the release binary;
#   2. `vigil bench`: per-model median latency, engines onnxruntime and rten, 1 and 2 threads;
#   3. bench/reference.py: the same models in onnxruntime-in-Python (venv .venv-bench,
#      packages from PyPI pinned in bench/requirements.txt: the only download);
#   4. per engine, starts `vigil serve` on a free loopback port (development profile,
#      throw-away data dir) and runs `vigil bench --http` at concurrency 1 and 2;
#   5. prints one markdown report (bench/combine.py), also written to OUT/RESULTS.md.
# Any server it started is stopped on exit (trap), whatever happens.
#
# usage: scripts/bench.sh            (from anywhere; runs in the repository root)
# knobs (environment):
#   BENCH_RUNS=10          timed runs per model cell
#   BENCH_REQUESTS=200     HTTP requests per concurrency level (upper bound)
#   BENCH_DURATION=60      seconds per concurrency level (upper bound)
#   BENCH_SERVER_THREADS=1 vision.threads of the server (threads per model run)
#   BENCH_SERVER_WORKERS=  vision.workers of the server (default: number of cores)
#   BENCH_OUT=target/bench where the JSON, server logs and RESULTS.md go
#   ORT_DYLIB_PATH         libonnxruntime.so (default runtime/libonnxruntime.so, from
#                          scripts/fetch-onnxruntime.sh, which this script does not run)
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${BENCH_RUNS:-10}
REQUESTS=${BENCH_REQUESTS:-200}
DURATION=${BENCH_DURATION:-60}
WARMUP=3
SERVER_THREADS=${BENCH_SERVER_THREADS:-1}
SERVER_WORKERS=${BENCH_SERVER_WORKERS:-$(nproc)}
OUT=${BENCH_OUT:-target/bench}
IMAGE=testdata/images/bench_640x480.jpg
VENV=.venv-bench
export ORT_DYLIB_PATH=${ORT_DYLIB_PATH:-$PWD/runtime/libonnxruntime.so}
# Quiet logs (the development profile logs every analysed image at debug).
export VIGIL_LOG__LEVEL=${VIGIL_LOG__LEVEL:-warn}

SERVER_PID=
DATA_DIR=
cleanup() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
    if [ -n "$DATA_DIR" ]; then rm -rf "$DATA_DIR"; fi
    DATA_DIR=
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { printf '== %s\n' "$*" >&2; }

[ -e "$ORT_DYLIB_PATH" ] || {
    echo "no ONNX Runtime at $ORT_DYLIB_PATH: run scripts/fetch-onnxruntime.sh first" >&2
    exit 1
}
[ -f "$IMAGE" ] || { echo "missing $IMAGE (see testdata/README.md)" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT"/http-*.json
started=$(date +%s)
load_before=$(cut -d" " -f1-3 /proc/loadavg)

log "building release"
cargo build --release --locked -p vigil
VIGIL=$PWD/target/release/vigil

log "python venv $VENV (PyPI only)"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
PY=$VENV/bin/python

log "vigil bench (models; onnxruntime + rten; threads 1,2; $RUNS runs)"
"$VIGIL" bench --image "$IMAGE" --engines onnxruntime,rten --threads 1,2 --runs "$RUNS" --json \
    >"$OUT/vigil-models.json"

log "bench/reference.py (onnxruntime in Python; threads 1,2; $RUNS runs)"
"$PY" bench/reference.py --image "$IMAGE" --threads 1,2 --runs "$RUNS" --json >"$OUT/python.json"

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

for engine in onnxruntime rten; do
    port=$(free_port)
    DATA_DIR=$(mktemp -d)
    log "vigil serve on 127.0.0.1:$port (vision.engine=$engine, threads=$SERVER_THREADS, workers=$SERVER_WORKERS)"
    VIGIL_PROFILE=development \
        VIGIL_DATA_DIR="$DATA_DIR" \
        VIGIL_VISION__ENGINE="$engine" \
        VIGIL_VISION__THREADS="$SERVER_THREADS" \
        VIGIL_VISION__WORKERS="$SERVER_WORKERS" \
        VIGIL_VISION__MODELS_DIR="$PWD/models" \
        VIGIL_RATE_LIMIT__ENABLED=false \
        "$VIGIL" serve --listen "127.0.0.1:$port" >"$OUT/serve-$engine.log" 2>&1 &
    SERVER_PID=$!
    ready=
    for _ in $(seq 600); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
        if curl -fsS -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; then ready=1; break; fi
        sleep 0.1
    done
    if [ -z "$ready" ]; then
        echo "vigil serve did not become ready; its log ($OUT/serve-$engine.log):" >&2
        tail -n 30 "$OUT/serve-$engine.log" >&2
        exit 1
    fi
    log "vigil bench --http (concurrency 1,2; $REQUESTS requests or ${DURATION}s each)"
    "$VIGIL" bench --http "http://127.0.0.1:$port" --image "$IMAGE" --concurrency 1,2 \
        --requests "$REQUESTS" --duration "$DURATION" --warmup "$WARMUP" --json \
        >"$OUT/http-$engine.json"
    cleanup
done

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
"$PY" - "$OUT/meta.json" <<EOF
import json, sys
json.dump({"image": "$IMAGE", "nproc": $(nproc), "cpu": """$cpu""", "runs": $RUNS,
           "requests": $REQUESTS, "duration": $DURATION, "warmup": $WARMUP,
           "server_threads": $SERVER_THREADS, "server_workers": $SERVER_WORKERS,
           "load_before": "$load_before", "load_after": "$(cut -d" " -f1-3 /proc/loadavg)",
           "seconds": $(($(date +%s) - started))},
          open(sys.argv[1], "w"), indent=1)
EOF
"$PY" bench/combine.py "$OUT" >"$OUT/RESULTS.md"
cat "$OUT/RESULTS.md"
log "done in $(($(date +%s) - started)) s; JSON and server logs in $OUT/"
