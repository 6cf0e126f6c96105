"""Draw synthetic face masks on real test photos (deterministic).

Mask geometry comes from the hand-checked face boxes in labels.json plus BlazeFace
(back 256) keypoints from the bundled ONNX: the mask spans ear to ear just below the
eyes' line, from the upper nose down past the chin. Drawn as a filled polygon with a
darker outline, pleat lines and ear loops, like a surgical/cloth mask.

usage: .venv-models/bin/python testdata/make_synthetic_masks.py
(writes testdata/images/synthetic_masked_*.jpg; labels.json already describes them)
"""
import json
import os

import cv2
import numpy as np
import onnxruntime as ort

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# output name -> (source image, indices of faces in labels.json to mask, BGR colour)
JOBS = {
    "synthetic_masked_portrait_skimage_astronaut.jpg": ("portrait_skimage_astronaut.png", [0], (230, 200, 140)),
    "synthetic_masked_portrait_matplotlib_grace_hopper.jpg": ("portrait_matplotlib_grace_hopper.jpg", [0], (240, 240, 240)),
    "synthetic_masked_group_insightface_t1.jpg": ("group_insightface_t1.jpg", [0, 2, 4], (60, 60, 60)),
}


def keypoints(sess, im, box):
    """BlazeFace keypoints of the detection that best overlaps `box` (pixels)."""
    h, w = im.shape[:2]
    side = max(h, w)
    sq = np.zeros((side, side, 3), np.uint8)
    sq[:h, :w] = im[:, :, ::-1]
    x = cv2.resize(sq, (256, 256)).astype(np.float32)[None] / 127.5 - 1.0
    boxes, scores, kps = sess.run(["boxes", "scores", "keypoints"], {"input": x})
    b = boxes[0] * side
    ix1, iy1 = np.maximum(b[:, 0], box[0]), np.maximum(b[:, 1], box[1])
    ix2, iy2 = np.minimum(b[:, 2], box[2]), np.minimum(b[:, 3], box[3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    union = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    quality = inter / union * (scores[0] > 0.3)
    i = int(np.argmax(quality))
    if quality[i] < 0.3:
        raise SystemExit(f"no BlazeFace detection for face {box}")
    return kps[0][i] * side


def draw_mask(im, box, kp, colour):
    reye, leye, nose, mouth, rear, lear = kp
    x1, y1, x2, y2 = box
    eye_y = (reye[1] + leye[1]) / 2
    top = eye_y + 0.45 * (nose[1] - eye_y)  # just under the eyes, over the nose bridge
    chin = mouth[1] + 1.15 * (mouth[1] - nose[1]) + 0.05 * (y2 - y1)
    left = min(rear[0], x1 + 0.04 * (x2 - x1))
    right = max(lear[0], x2 - 0.04 * (x2 - x1))
    cx = (left + right) / 2 + 0.3 * (nose[0] - (left + right) / 2)
    poly = np.array([
        (left, top + 0.15 * (chin - top)), (cx, top - 0.03 * (chin - top)),
        (right, top + 0.15 * (chin - top)), (right - 0.05 * (right - left), top + 0.75 * (chin - top)),
        (cx, chin), (left + 0.05 * (right - left), top + 0.75 * (chin - top)),
    ], np.int32)
    cv2.fillPoly(im, [poly], colour, lineType=cv2.LINE_AA)
    dark = tuple(int(c * 0.7) for c in colour)
    cv2.polylines(im, [poly], True, dark, max(1, int((x2 - x1) / 60)), cv2.LINE_AA)
    for k in (0.3, 0.5, 0.7):  # pleats
        y = int(top + k * (chin - top))
        cv2.line(im, (int(left + 0.08 * (right - left)), y), (int(right - 0.08 * (right - left)), y), dark,
                 max(1, int((x2 - x1) / 80)), cv2.LINE_AA)
    for ex, sx in ((rear, left), (lear, right)):  # ear loops
        cv2.line(im, (int(sx), int(top + 0.2 * (chin - top))), (int(ex[0]), int(ex[1])), dark,
                 max(1, int((x2 - x1) / 80)), cv2.LINE_AA)


def main():
    labels = json.load(open(os.path.join(HERE, "labels.json")))["images"]
    sess = ort.InferenceSession(os.path.join(ROOT, "models/blazeface_back_256.onnx"),
                                providers=["CPUExecutionProvider"])
    for out, (src, faces, colour) in JOBS.items():
        im = cv2.imread(os.path.join(HERE, "images", src), cv2.IMREAD_COLOR)
        for i in faces:
            box = labels[src]["faces"][i]["box"]
            draw_mask(im, box, keypoints(sess, cv2.imread(os.path.join(HERE, "images", src)), box), colour)
        cv2.imwrite(os.path.join(HERE, "images", out), im, [cv2.IMWRITE_JPEG_QUALITY, 90])
        print("wrote", out)


if __name__ == "__main__":
    main()
