"""onnxruntime-in-Python reference for `vigil bench`: the same .onnx files, the same
inputs, the same timing rule, so the Rust numbers have something to be compared with.

What is measured (names match `vigil bench` rows, crates/vigil-vision/src/bench.rs):
  detect:res10 / detect:blazeface / detect:mtcnn
      the whole image, no tiles, pre- and post-processing included (resize, normalise,
      model run, threshold 0.75, greedy NMS; MTCNN: its whole P/R/O cascade, min face
      20 px as Vigil's default). Pre/post-processing is models/convert/golden.py's.
  mask (1 face) / embedding (1 face) / liveness (1 face)
      the first res10 face; crop, resize, normalise, one model run (+ L2 norm for the
      embedding, + the blur gate and score for liveness).
  pipeline:res10 (single pass)
      decode the JPEG bytes -> res10 on the whole image once -> mask on every face.
  pipeline:res10 (as vigil)
      what Vigil's /analyze does by default on a 640x480 image: decode -> res10 on the
      whole image *and* on the image zoomed out (centred in a black frame 1.5x its size),
      as one batch of 2 (Vigil's multi-scale search; no tiles at this size: its first
      tile level, 600 px, is not < 0.75 x 640) -> NMS -> mask on every face.
  2 concurrent:res10
      two Python threads, each with its own sessions, each running "pipeline:res10 (as
      vigil)" RUNS times; wall time per image (as Vigil's row of the same name).

Timing rule (as Vigil's `time_runs`): one warm-up call, then RUNS timed calls; report
the median (sorted[RUNS // 2]) and the minimum, in ms.

Session options match Vigil's (crates/vigil-vision/src/model.rs): intra-op threads =
THREADS, inter-op threads 1, intra-op spinning off, graph optimisation level "all",
CPU execution provider. `--spinning` turns spinning back on (onnxruntime's default) to
show what that costs or gains.

Known differences from Vigil, all in pre-processing (the model runs are identical):
OpenCV's bilinear resize instead of fast_image_resize; the embedding crop is
golden.py's square box (Vigil warps a 5-point aligned chip); BlazeFace letterboxes
bottom/right (Vigil centres). None changes the model input size.

usage: bench/reference.py [--models DIR] [--image JPEG] [--threads 1,2] [--runs N] [--json]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time

import cv2
import numpy as np
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "models", "convert"))
import golden  # noqa: E402  (the executable reference of MODELS.md's pre/post-processing)

THRESHOLD = 0.75  # Vigil's default detection threshold
NMS_IOU = 0.3  # Vigil's default NMS IoU
MIN_FACE = 20  # Vigil's default MTCNN min face
ENGINE = "ort-python"

# Cap OpenCV's own threads so pre-processing does not use more cores than the cell's
# thread count (Vigil's resizer is single-threaded).
cv2.setNumThreads(1)


def session(models, name, threads, spinning):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    if not spinning:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(os.path.join(models, name), so, providers=["CPUExecutionProvider"])


class Models:
    """One session per model file, all with the same thread count."""

    def __init__(self, models, threads, spinning):
        s = lambda n: session(models, n, threads, spinning)  # noqa: E731
        self.res10 = s("res10_ssd_face.onnx")
        self.blazeface = s("blazeface_back_256.onnx")  # Vigil's default BlazeFace
        self.mtcnn = [s(f"mtcnn_{n}.onnx") for n in ("pnet", "rnet", "onet")]
        self.mask = s("mask_classifier.onnx")
        self.embedding = s("mobilefacenet.onnx")
        self.liveness = s("antispoof.onnx")


def time_runs(runs, f):
    f()  # warm-up
    times = []
    for _ in range(max(1, runs)):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1000.0)
    times.sort()
    return times[len(times) // 2], times[0]


def res10_regions(sess, bgr, zoom_out):
    """res10 on the whole image (and, with zoom_out, on the image centred in a black
    frame 1.5x its size), one batched run; boxes in pixels, thresholded, NMS'd."""
    h, w = bgr.shape[:2]
    regions = [(0.0, 0.0, float(w), float(h))]
    crops = [bgr]
    if zoom_out:
        H, W = int(round(1.5 * h)), int(round(1.5 * w))
        canvas = np.zeros((H, W, 3), np.uint8)
        oy, ox = (H - h) // 2, (W - w) // 2
        canvas[oy:oy + h, ox:ox + w] = bgr
        regions.append((-float(ox), -float(oy), float(W), float(H)))
        crops.append(canvas)
    mean = np.array([104.0, 177.0, 123.0], np.float32)
    x = np.stack([(cv2.resize(c, (300, 300), interpolation=cv2.INTER_LINEAR).astype(np.float32) - mean)
                  .transpose(2, 0, 1) for c in crops])
    boxes, scores = sess.run(["boxes", "scores"], {"input": x})
    dets_boxes, dets_scores = [], []
    for b, (rx, ry, rw, rh) in enumerate(regions):
        keep = np.nonzero(scores[b] >= THRESHOLD)[0]
        for i in keep:
            c = boxes[b, i]
            x1, y1 = np.clip(rx + c[0] * rw, 0, w), np.clip(ry + c[1] * rh, 0, h)
            x2, y2 = np.clip(rx + c[2] * rw, 0, w), np.clip(ry + c[3] * rh, 0, h)
            if x2 - x1 >= 2 and y2 - y1 >= 2:
                dets_boxes.append([x1, y1, x2, y2])
                dets_scores.append(scores[b, i])
    if not dets_boxes:
        return []
    bx, sc = np.array(dets_boxes, np.float32), np.array(dets_scores, np.float32)
    return [(bx[i], float(sc[i])) for i in golden.nms(bx, sc, THRESHOLD - 1e-6, NMS_IOU)]


def clip_box(box, w, h):
    x1, y1, x2, y2 = (int(round(float(v))) for v in box)
    return max(0, x1), max(0, y1), min(w, x2), min(h, y2)


def mask(sess, bgr, faces):
    """Mask classifier on every face box (clipped), one batched run; p(mask) per face."""
    if not faces:
        return []
    h, w = bgr.shape[:2]
    crops = []
    for box in faces:
        x1, y1, x2, y2 = clip_box(box, w, h)
        rgb = cv2.cvtColor(bgr[y1:y2, x1:x2], cv2.COLOR_BGR2RGB)
        crops.append(cv2.resize(rgb, (224, 224), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 127.5 - 1.0)
    probs = sess.run(["probs"], {"input": np.stack(crops)})[0]
    return [float(p[0]) for p in probs]


def square_crop(bgr, box, size):
    h, w = bgr.shape[:2]
    sx1, sy1, sx2, sy2 = golden.square(clip_box(box, w, h), w, h)
    rgb = cv2.cvtColor(bgr[sy1:sy2, sx1:sx2], cv2.COLOR_BGR2RGB)
    return cv2.resize(rgb, (size, size), interpolation=cv2.INTER_LINEAR)


def embedding(sess, bgr, box):
    x = (square_crop(bgr, box, 112).astype(np.float32) - 127.5) / 128.0
    e = sess.run(["embeddings"], {"input": x[None]})[0][0]
    return e / (np.linalg.norm(e) + 1e-10)


def liveness(sess, bgr, box):
    chip = square_crop(bgr, box, 256)
    c, lm = sess.run(["clss_pred", "leaf_node_mask"], {"input": (chip.astype(np.float32) / 255.0)[None]})
    spoof = float((np.abs(c) * lm).sum())
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sharp = int((np.abs(cv2.Laplacian(grey, cv2.CV_32F, ksize=1)) > 50).sum()) >= 50
    return spoof < 0.2 and sharp


def pipeline(m, jpeg, zoom_out):
    """decode -> res10 -> mask on every face; returns [(box, score, p_mask)]."""
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("image does not decode")
    faces = res10_regions(m.res10, bgr, zoom_out)
    probs = mask(m.mask, bgr, [b for b, _ in faces])
    return [(b, s, p) for (b, s), p in zip(faces, probs)]


def bench(models, image, threads_list, runs, spinning):
    with open(image, "rb") as fh:
        jpeg = fh.read()
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{image}: does not decode")
    rows, checks = [], {}

    def row(what, threads, timing, n=runs):
        rows.append({"what": what, "engine": ENGINE, "threads": threads,
                     "median_ms": round(timing[0], 3), "min_ms": round(timing[1], 3), "runs": n})

    for threads in threads_list:
        m = Models(models, threads, spinning)
        row("detect:res10", threads, time_runs(runs, lambda: res10_regions(m.res10, bgr, False)))
        row("detect:blazeface", threads, time_runs(runs, lambda: golden.blazeface(m.blazeface, bgr, 256, THRESHOLD)))
        row("detect:mtcnn", threads, time_runs(runs, lambda: golden.mtcnn(m.mtcnn, bgr, MIN_FACE)))
        faces = res10_regions(m.res10, bgr, True)
        if faces:
            one = faces[0][0]
            row("mask (1 face)", threads, time_runs(runs, lambda: mask(m.mask, bgr, [one])))
            row("embedding (1 face)", threads, time_runs(runs, lambda: embedding(m.embedding, bgr, one)))
            row("liveness (1 face)", threads, time_runs(runs, lambda: liveness(m.liveness, bgr, one)))
        row("pipeline:res10 (single pass)", threads, time_runs(runs, lambda: pipeline(m, jpeg, False)))
        row("pipeline:res10 (as vigil)", threads, time_runs(runs, lambda: pipeline(m, jpeg, True)))
        checks[threads] = [{"box": [round(float(v), 1) for v in b], "score": round(s, 4), "p_mask": round(p, 4)}
                           for b, s, p in pipeline(m, jpeg, True)]
        # Two callers at once, each with its own sessions (Vigil: 2 session copies).
        others = [m, Models(models, threads, spinning)]
        for mm in others:
            pipeline(mm, jpeg, True)  # warm-up
        errors = []

        def caller(mm):
            try:
                for _ in range(max(1, runs)):
                    pipeline(mm, jpeg, True)
            except Exception as e:  # reported below; a thread cannot raise into main
                errors.append(e)

        start = time.perf_counter()
        ts = [threading.Thread(target=caller, args=(mm,)) for mm in others]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        if errors:
            raise errors[0]
        per_image = (time.perf_counter() - start) * 1000.0 / (len(others) * max(1, runs))
        row("2 concurrent:res10", threads, (per_image, per_image), runs * 2)
    return {"rows": rows, "faces": checks,
            "environment": {"python": platform.python_version(), "onnxruntime": ort.__version__,
                            "numpy": np.__version__, "opencv": cv2.__version__,
                            "spinning": spinning, "image": os.path.relpath(image, ROOT)}}


def table(report):
    out = [f"{'what':<30} {'engine':<12} {'threads':>7} {'median_ms':>11} {'min_ms':>9} {'runs':>5}"]
    for r in report["rows"]:
        out.append(f"{r['what']:<30} {r['engine']:<12} {r['threads']:>7} {r['median_ms']:>11.2f} "
                   f"{r['min_ms']:>9.2f} {r['runs']:>5}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=os.path.join(ROOT, "models"), help="directory of the .onnx files")
    ap.add_argument("--image", default=os.path.join(ROOT, "testdata", "images", "bench_640x480.jpg"))
    ap.add_argument("--threads", default="1,2", help="intra-op thread counts, comma-separated")
    ap.add_argument("--runs", type=int, default=10, help="timed runs per cell (after one warm-up)")
    ap.add_argument("--spinning", action="store_true", help="allow intra-op spinning (onnxruntime's default)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    a = ap.parse_args()
    try:
        threads = [int(t) for t in a.threads.split(",") if t.strip()]
    except ValueError:
        ap.error("--threads: comma-separated integers")
    if not threads or min(threads) < 1 or a.runs < 1:
        ap.error("--threads and --runs must be >= 1")
    report = bench(a.models, a.image, threads, a.runs, a.spinning)
    if a.json:
        print(json.dumps(report, indent=1))
    else:
        print(table(report))
        for t, faces in report["faces"].items():
            print(f"faces ({t} threads, as vigil): {faces}")


if __name__ == "__main__":
    main()
