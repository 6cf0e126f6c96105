"""Joins the JSON written by scripts/bench.sh into one markdown report (stdout).

usage: bench/combine.py OUT_DIR
  OUT_DIR/vigil-models.json   `vigil bench --json`
  OUT_DIR/python.json         `bench/reference.py --json`
  OUT_DIR/http-ENGINE.json    `vigil bench --http URL --json`, one per engine
  OUT_DIR/meta.json           machine and settings (written by bench.sh)
Standard library only.
"""
import glob
import json
import os
import sys

# Vigil row name -> Python reference row name (same work; see bench/reference.py).
PAIRS = [
    ("detect:res10", "detect:res10"),
    ("detect:blazeface", "detect:blazeface"),
    ("detect:mtcnn", "detect:mtcnn"),
    ("mask (1 face)", "mask (1 face)"),
    ("embedding (1 face)", "embedding (1 face)"),
    ("liveness (1 face)", "liveness (1 face)"),
    ("pipeline:res10", "pipeline:res10 (as vigil)"),
    (None, "pipeline:res10 (single pass)"),
    ("2 concurrent:res10", "2 concurrent:res10"),
    ("pipeline:blazeface", None),
    ("pipeline:mtcnn", None),
]


def load(path):
    with open(path) as fh:
        return json.load(fh)


def cell(rows, what, engine, threads):
    for r in rows:
        if r["what"] == what and r["engine"] == engine and r["threads"] == threads:
            return r["median_ms"]
    return None


def fmt(v, digits=1):
    return "—" if v is None else f"{v:.{digits}f}"


def main(out):
    meta = load(os.path.join(out, "meta.json"))
    vigil = load(os.path.join(out, "vigil-models.json"))
    py = load(os.path.join(out, "python.json"))
    vrows, prows = vigil["rows"], py["rows"]
    threads = sorted({r["threads"] for r in prows})
    lines = []
    p = lines.append
    p(f"Input: `{meta['image']}` (640×480 JPEG, one face). Machine: {meta['nproc']} cores, "
      f"{meta['cpu']}. Timed runs per cell: {meta['runs']} after one warm-up; median in ms "
      f"(lower is better). Python: onnxruntime {py['environment']['onnxruntime']}, "
      f"numpy {py['environment']['numpy']}, OpenCV {py['environment']['opencv']}, "
      f"Python {py['environment']['python']}, same session options as Vigil (intra-op "
      f"threads as shown, inter-op 1, spinning off). Load average (1/5/15 min) before: "
      f"{meta.get('load_before', '?')}, after: {meta.get('load_after', '?')}; whole run "
      f"{meta.get('seconds', '?')} s.")
    p("")
    p("### Per model, median latency (ms)")
    p("")
    p("| what | threads | Vigil onnxruntime | Vigil rten | Python onnxruntime | Vigil ort ÷ Python |")
    p("|---|---:|---:|---:|---:|---:|")
    for vname, pname in PAIRS:
        for t in threads:
            vo = cell(vrows, vname, "onnxruntime", t) if vname else None
            vr = cell(vrows, vname, "rten", t) if vname else None
            pv = cell(prows, pname, "ort-python", t) if pname else None
            ratio = f"{vo / pv:.2f}" if vo is not None and pv else "—"
            label = vname or pname
            if vname and pname and vname != pname:
                label = f"{vname} (Python: {pname})"
            elif not vname:
                label = f"{pname} (Python only)"
            p(f"| {label} | {t} | {fmt(vo)} | {fmt(vr)} | {fmt(pv)} | {ratio} |")
    for r in vrows:
        if r["what"].startswith("resize:"):
            p(f"| {r['what']} (640×480 → 300×300) | 1 | {fmt(r['median_ms'], 2)} | | | |")
    for engine, reason in vigil.get("skipped", []):
        p(f"\nSkipped engine {engine}: {reason}")
    p("")
    p("`2 concurrent:res10` is wall time per image with two callers analysing at once "
      "(in-process, no HTTP).")
    p("")
    p("### HTTP `POST /api/v1/analyze` (raw JPEG body), end to end")
    p("")
    p(f"Server: `vigil serve` (release, development profile), vision.threads = "
      f"{meta['server_threads']}, vision.workers = {meta['server_workers']}; client: "
      f"`vigil bench --http` on the same box, closed loop, {meta['requests']} requests "
      f"or {meta['duration']} s per row, whichever first, after {meta['warmup']} "
      f"untimed requests. Latency = send → whole answer read, over the 200s.")
    p("")
    p("| engine | concurrency | requests | 200 | 503 | other | req/s | p50 ms | p99 ms |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for path in sorted(glob.glob(os.path.join(out, "http-*.json"))):
        engine = os.path.basename(path)[len("http-"):-len(".json")]
        rep = load(path)
        for r in rep["rows"]:
            other = sum(r["other_status"].values()) + r["transport_errors"]
            p(f"| Vigil {engine} | {r['concurrency']} | {r['requests']} | {r['ok']} | "
              f"{r['overloaded']} | {other} | {r['throughput_rps']:.2f} | {r['p50_ms']:.1f} | "
              f"{r['p99_ms']:.1f} |")
    one = cell(prows, "pipeline:res10 (as vigil)", "ort-python", 1)
    two = cell(prows, "2 concurrent:res10", "ort-python", 1)
    if one and two:
        p(f"| Python onnxruntime, in-process, no HTTP (1 thread/model) | 1 | | | | | "
          f"{1000.0 / one:.2f} | {one:.1f} | |")
        p(f"| Python onnxruntime, in-process, no HTTP (1 thread/model) | 2 | | | | | "
          f"{1000.0 / two:.2f} | | |")
    p("")
    p("The Python rows are the same decode → res10 (whole image + zoomed-out view, one "
      "batch of 2, as Vigil's default multi-scale search does at 640×480) → mask work "
      "without any HTTP, so they bound what a Python server could reach; req/s = 1000 ÷ "
      "median (one caller) or ÷ wall time per image (two threads).")
    print("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
