"""Convert the OpenCV res10 SSD face detector (Caffe) to ONNX.

The Caffe message classes come from the serialized FileDescriptorProto that is
embedded in caffe2onnx 2.0.1's generated `caffe_upsample_pb2.py` (package
`caffe`, a superset of BVLC caffe.proto with the SSD layers). That module's own
Python code no longer imports on protobuf >= 4, but the descriptor bytes are
plain data, so we load them into a fresh descriptor pool.

The backbone is emitted layer by layer. The SSD head is not emitted as Caffe's
PriorBox/DetectionOutput: the prior boxes are computed here (Caffe SSD rules)
and folded into constants, and CENTER_SIZE box decoding is done in the graph.
Outputs:
  boxes  [N, P, 4] float32, (x1, y1, x2, y2) normalised to [0, 1] (not clipped)
  scores [N, P]    float32, softmax probability of the face class
Confidence thresholding and NMS are left to the caller (Caffe used
confidence 0.01, NMS IoU 0.45, top_k 400, keep_top_k 200).

usage: res10_to_onnx.py PROTOTXT CAFFEMODEL CAFFE2ONNX_PB2_PY OUT.onnx
"""
import ast
import math
import sys

import numpy as np
import onnx
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from onnx import TensorProto, helper, numpy_helper

OPSET = 13


def load_caffe_messages(pb2_path):
    """Return the caffe.NetParameter class from the descriptor bytes in a *_pb2.py file."""
    tree = ast.parse(open(pb2_path, encoding="utf-8").read())
    blob = None
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "serialized_pb":
            blob = ast.literal_eval(node.value)
            break
    if blob is None:
        raise SystemExit(f"no serialized_pb in {pb2_path}")
    fdp = descriptor_pb2.FileDescriptorProto.FromString(blob)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("caffe.NetParameter"))


def blob_array(b):
    shape = list(b.shape.dim) if b.HasField("shape") else [b.num, b.channels, b.height, b.width]
    return np.asarray(b.data, dtype=np.float32).reshape(shape)


def prior_boxes(fh, fw, img, p):
    """Caffe SSD PriorBox (clip=false), normalised corners, layout [fh, fw, k, 4]."""
    ars = [1.0]
    for ar in p.aspect_ratio:
        if all(abs(ar - a) > 1e-6 for a in ars):
            ars.append(ar)
            if p.flip:
                ars.append(1.0 / ar)
    step = p.step if p.HasField("step") else img / fw
    out = []
    for h in range(fh):
        for w in range(fw):
            cx, cy = (w + p.offset) * step, (h + p.offset) * step
            cell = []
            for i, mn in enumerate(p.min_size):
                sizes = [(mn, mn)]
                if len(p.max_size) > i:
                    s = math.sqrt(mn * p.max_size[i])
                    sizes.append((s, s))
                sizes += [(mn * math.sqrt(a), mn / math.sqrt(a)) for a in ars[1:]]
                for bw, bh in sizes:
                    cell.append([(cx - bw / 2) / img, (cy - bh / 2) / img, (cx + bw / 2) / img, (cy + bh / 2) / img])
            out.append(cell)
    return np.asarray(out, dtype=np.float32).reshape(-1, 4)


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, arr, name=None):
        self.n += 1
        name = name or f"c{self.n}"
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op_type, inputs, out=None, **attrs):
        self.n += 1
        out = out or f"t{self.n}"
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=f"n{self.n}_{op_type}", **attrs))
        return out


def convert(prototxt, caffemodel, pb2, out_path):
    Net = load_caffe_messages(pb2)
    proto = Net()
    text_format.Merge(open(prototxt).read(), proto)
    weights = Net.FromString(open(caffemodel, "rb").read())
    blobs = {l.name: [blob_array(b) for b in l.blobs] for l in weights.layer}
    img = proto.input_shape[0].dim[2]

    g = Builder()
    tensor = {proto.input[0]: "input"}  # caffe blob name -> current onnx tensor
    priors = []  # (bottom onnx tensor, PriorBoxParameter)
    loc_out = conf_out = None
    for l in proto.layer:
        x = [tensor[b] for b in l.bottom]
        w = blobs.get(l.name, [])
        t = l.type
        if t == "Concat" and all(v == "priorbox" for v in x):
            tensor[l.top[0]] = "priorbox"  # folded into constants below
            continue
        if t == "BatchNorm":
            sf = w[2].ravel()[0]
            sf = 1.0 / sf if sf != 0 else 0.0
            mean, var = w[0].ravel() * sf, w[1].ravel() * sf
            inv = 1.0 / np.sqrt(var + l.batch_norm_param.eps)
            y = g.op("Mul", [x[0], g.const(inv.reshape(1, -1, 1, 1).astype(np.float32))])
            y = g.op("Add", [y, g.const((-mean * inv).reshape(1, -1, 1, 1).astype(np.float32))])
        elif t == "Scale":
            y = g.op("Mul", [x[0], g.const(w[0].reshape(1, -1, 1, 1))])
            if l.scale_param.bias_term:
                y = g.op("Add", [y, g.const(w[1].reshape(1, -1, 1, 1))])
        elif t == "Convolution":
            c = l.convolution_param
            k = c.kernel_size[0] if c.kernel_size else c.kernel_h
            pad = c.pad[0] if c.pad else 0
            stride = c.stride[0] if c.stride else 1
            dil = c.dilation[0] if c.dilation else 1
            ins = [x[0], g.const(w[0])] + ([g.const(w[1])] if c.bias_term else [])
            y = g.op("Conv", ins, kernel_shape=[k, k], pads=[pad] * 4, strides=[stride] * 2,
                     dilations=[dil] * 2, group=c.group)
        elif t == "ReLU":
            assert l.relu_param.negative_slope == 0
            y = g.op("Relu", x)
        elif t == "Eltwise":
            assert l.eltwise_param.operation == 1 and not l.eltwise_param.coeff  # plain SUM
            y = g.op("Sum", x)
        elif t == "Pooling":
            p = l.pooling_param
            assert p.pool == 0 and not p.global_pooling  # MAX
            y = g.op("MaxPool", x, kernel_shape=[p.kernel_size] * 2, strides=[p.stride] * 2,
                     pads=[p.pad] * 4, ceil_mode=1)
        elif t == "Normalize":
            n = l.norm_param
            assert not n.across_spatial and not n.channel_shared
            ss = g.op("ReduceSumSquare", x, axes=[1], keepdims=1)
            nrm = g.op("Sqrt", [g.op("Add", [ss, g.const(np.float32(n.eps))])])
            y = g.op("Mul", [g.op("Div", [x[0], nrm]), g.const(w[0].reshape(1, -1, 1, 1))])
        elif t == "Permute":
            y = g.op("Transpose", x, perm=list(l.permute_param.order))
        elif t == "Flatten":
            assert l.flatten_param.axis == 1
            y = g.op("Flatten", x, axis=1)
        elif t == "Concat":
            y = g.op("Concat", x, axis=l.concat_param.axis)
        elif t == "Reshape":
            y = g.op("Reshape", [x[0], g.const(np.array(l.reshape_param.shape.dim, dtype=np.int64))])
        elif t == "Softmax":
            y = g.op("Softmax", x, axis=l.softmax_param.axis)
        elif t == "PriorBox":
            priors.append((x[0], l.prior_box_param))
            y = "priorbox"
        elif t == "DetectionOutput":
            d = l.detection_output_param
            assert d.code_type == 2 and d.share_location and d.num_classes == 2 and d.background_label_id == 0
            loc_out, conf_out = x[0], x[1]
            y = None
        else:
            raise SystemExit(f"unsupported layer type {t} ({l.name})")
        if y is not None:
            for top in l.top:
                tensor[top] = y

    # Feature map sizes by shape inference of the backbone.
    probe = helper.make_model(
        helper.make_graph(g.nodes, "probe",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, img, img])],
                          [helper.make_tensor_value_info(p[0], TensorProto.FLOAT, None) for p in priors],
                          g.inits),
        opset_imports=[helper.make_opsetid("", OPSET)])
    inferred = onnx.shape_inference.infer_shapes(probe).graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.value_info) + list(inferred.output)}
    pri, var = [], []
    for bottom, p in priors:
        _, _, fh, fw = shapes[bottom]
        b = prior_boxes(fh, fw, img, p)
        pri.append(b)
        var.append(np.tile(np.asarray(p.variance, np.float32), (len(b), 1)))
    pri, var = np.concatenate(pri), np.concatenate(var)
    num = len(pri)
    pc = ((pri[:, :2] + pri[:, 2:]) / 2)[None]
    pwh = (pri[:, 2:] - pri[:, :2])[None]

    loc = g.op("Reshape", [loc_out, g.const(np.array([0, num, 4], np.int64))])
    lxy = g.op("Slice", [loc, g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64)), g.const(np.array([2], np.int64))])
    lwh = g.op("Slice", [loc, g.const(np.array([2], np.int64)), g.const(np.array([4], np.int64)), g.const(np.array([2], np.int64))])
    ctr = g.op("Add", [g.op("Mul", [lxy, g.const((var[None, :, :2] * pwh).astype(np.float32))]), g.const(pc)])
    half = g.op("Mul", [g.op("Exp", [g.op("Mul", [lwh, g.const(var[None, :, 2:])])]), g.const((pwh / 2).astype(np.float32))])
    g.op("Concat", [g.op("Sub", [ctr, half]), g.op("Add", [ctr, half])], out="boxes", axis=2)
    conf = g.op("Reshape", [conf_out, g.const(np.array([0, num, 2], np.int64))])
    face = g.op("Slice", [conf, g.const(np.array([1], np.int64)), g.const(np.array([2], np.int64)), g.const(np.array([2], np.int64))])
    g.op("Reshape", [face, g.const(np.array([0, num], np.int64))], out="scores")

    graph = helper.make_graph(
        g.nodes, "res10_ssd_face",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, img, img])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", num, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", num])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="vigil-res10_to_onnx")
    model.ir_version = 8
    model.doc_string = ("OpenCV res10_300x300_ssd_iter_140000 face detector. input: BGR float32 "
                        "NCHW 300x300 minus mean (104,177,123), no scaling. boxes: x1,y1,x2,y2 "
                        "normalised; scores: face probability. Threshold + NMS outside.")
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, out_path)
    print(f"wrote {out_path}: {num} priors")


if __name__ == "__main__":
    convert(*sys.argv[1:5])
