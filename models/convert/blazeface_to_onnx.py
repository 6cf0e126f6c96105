"""Fold BlazeFace's anchors and box/keypoint decoding into the ONNX graph.

Input: keijiro's Barracuda-compatible BlazeFace ONNX (front 128x128 or back 256x256,
raw MediaPipe outputs: scores [1,512,1] + [1,384,1], regressors [1,512,16] +
[1,384,16]). Output graph:
  input     [N,S,S,3] float32 RGB NHWC in [-1,1]     (unchanged network input)
  boxes     [N,896,4]   x1,y1,x2,y2 normalised to the input square
  scores    [N,896]     sigmoid(raw score)
  keypoints [N,896,6,2] (x,y) normalised; 0 right eye, 1 left eye (subject's), 2 nose tip,
                        3 mouth centre, 4 right ear tragion, 5 left ear tragion
Anchors (MediaPipe SSD anchors with fixed_anchor_size): 16x16 grid with 2 anchors per
cell, then 8x8 grid with 6 anchors per cell; index = (row*cells + col)*anchors + k;
anchor centre ((col+0.5)/cells, (row+0.5)/cells), anchor size 1. Decoding (as the
package's Postprocess1Kernel.hlsl, without Unity's vertical flip):
  centre = anchor + reg[0:2]/S, size = reg[2:4]/S, keypoint i = anchor + reg[4+2i:6+2i]/S.

usage: blazeface_to_onnx.py IN.onnx OUT.onnx
"""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def anchors():
    out = []
    for cells, per in ((16, 2), (8, 6)):
        for row in range(cells):
            for col in range(cells):
                out += [((col + 0.5) / cells, (row + 0.5) / cells)] * per
    return np.asarray(out, np.float32)


def main(src, dst):
    m = onnx.load(src)
    g = m.graph
    size = g.input[0].type.tensor_type.shape.dim[1].dim_value
    outs = {o.name: o.name for o in g.output}
    # rename input
    old_in = g.input[0].name
    for n in g.node:
        n.input[:] = ["input" if i == old_in else i for i in n.input]
    g.input[0].name = "input"

    # Dynamic batch: the shipped graph pads channels with ConstantOfShape([1,c,h,w]) +
    # Concat, and reshapes heads to [1,n,k]; both bake batch 1. Use Pad and -1 instead.
    init = {t.name: t for t in g.initializer}
    prod = {o: n for n in g.node for o in n.output}
    for node in list(g.node):
        if node.op_type == "Concat" and len(node.input) == 2 and node.input[1] in prod \
                and prod[node.input[1]].op_type == "ConstantOfShape":
            cos = prod[node.input[1]]
            assert helper.get_attribute_value(node.attribute[0]) == 1  # axis 1 (NCHW channels)
            c = int(numpy_helper.to_array(init[cos.input[0]])[1])
            pads = numpy_helper.from_array(np.array([0, 0, 0, 0, 0, c, 0, 0], np.int64), node.output[0] + "_pads")
            g.initializer.append(pads)
            idx = list(g.node).index(node)
            g.node.remove(node)
            g.node.insert(idx, helper.make_node("Pad", [node.input[0], pads.name], list(node.output),
                                                mode="constant", name=node.name))
            g.node.remove(cos)
    for node in g.node:
        if node.op_type == "Reshape" and node.input[1] in init:
            shp = numpy_helper.to_array(init[node.input[1]]).copy()
            if shp[0] == 1:
                shp[0] = -1
                init[node.input[1]].CopyFrom(numpy_helper.from_array(shp, node.input[1]))
    g.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    del g.value_info[:]

    inits, nodes = [], []

    def const(name, arr):
        inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def node(op, ins, out, **kw):
        nodes.append(helper.make_node(op, ins, [out], name="decode/" + out, **kw))
        return out

    anc = anchors()
    assert len(anc) == 896
    node("Concat", [outs["Identity:0"], outs["Identity_1:0"]], "raw_scores3", axis=1)
    node("Reshape", ["raw_scores3", const("shape_1x896", np.array([-1, 896], np.int64))], "raw_scores")
    node("Sigmoid", ["raw_scores"], "scores")
    node("Concat", [outs["Identity_2:0"], outs["Identity_3:0"]], "reg", axis=1)
    node("Div", ["reg", const("input_size", np.float32(size))], "reg_n")

    def sl(name, a, b):
        return node("Slice", ["reg_n", const(name + "_s", np.array([a], np.int64)),
                              const(name + "_e", np.array([b], np.int64)),
                              const(name + "_ax", np.array([2], np.int64))], name)

    sl("d_xy", 0, 2)
    sl("d_wh", 2, 4)
    sl("d_kp", 4, 16)
    node("Add", ["d_xy", const("anchor_xy", anc[None])], "ctr")
    node("Mul", ["d_wh", const("half", np.float32(0.5))], "half_wh")
    node("Sub", ["ctr", "half_wh"], "p1")
    node("Add", ["ctr", "half_wh"], "p2")
    node("Concat", ["p1", "p2"], "boxes", axis=2)
    node("Reshape", ["d_kp", const("shape_kp", np.array([-1, 896, 6, 2], np.int64))], "kp_off")
    node("Add", ["kp_off", const("anchor_kp", anc[None, :, None, :])], "keypoints")

    g.node.extend(nodes)
    g.initializer.extend(inits)
    del g.output[:]
    g.output.extend([
        helper.make_tensor_value_info("boxes", onnx.TensorProto.FLOAT, ["batch", 896, 4]),
        helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, ["batch", 896]),
        helper.make_tensor_value_info("keypoints", onnx.TensorProto.FLOAT, ["batch", 896, 6, 2]),
    ])
    used = {i for n in g.node for i in n.input}
    unused = [t for t in g.initializer if t.name not in used]
    for t in unused:
        g.initializer.remove(t)
    m.producer_name = "vigil-blazeface_to_onnx"
    m.doc_string = (f"MediaPipe BlazeFace {size}x{size} with anchors folded in. input: RGB NHWC float32 "
                    "in [-1,1]. boxes x1y1x2y2 / keypoints xy normalised to the input square; "
                    "scores sigmoid. Threshold + NMS outside.")
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, dst)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
