"""Convert a TFLite model to ONNX with tf2onnx, then repair and tidy the graph.

Repairs: tf2onnx 1.17.0 drops the bias of a TFLite FULLY_CONNECTED op whose input has
rank > 2 (it emits Reshape + MatMul and forgets the bias). For every such op we read the
bias from the TFLite interpreter and insert the missing Add after the MatMul.

Tidying: simple tensor names (--rename old=new), optional dynamic batch, optional
dynamic H/W (fully convolutional nets), and optional H/W transpose folded in front of
the net (--transpose-hw: MTCNN's weights expect images transposed, as in the original
Matlab/Caffe release; with this flag callers feed ordinary row-major NHWC images and
4-D outputs are transposed back).

usage: tflite_to_onnx.py IN.tflite OUT.onnx [--rename a=b ...] [--dynamic-batch]
                         [--dynamic-hw] [--transpose-hw]
"""
import argparse

import numpy as np
import onnx
from canon import canonicalize
import tensorflow as tf
import tf2onnx
from onnx import helper, numpy_helper

OPSET = 13


def fc_biases(path):
    """(output tensor name, bias array) for each FULLY_CONNECTED with bias and rank>2 input."""
    it = tf.lite.Interpreter(model_path=path, experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    inp = it.get_input_details()[0]
    it.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
    it.invoke()  # materialises dequantized constants
    td = {t["index"]: t for t in it.get_tensor_details()}
    ops = it._get_ops_details()
    # float16 constants reach FC through a DEQUANTIZE op whose output the interpreter
    # may not keep: read the float16 source instead.
    dequant = {op["outputs"][0]: op["inputs"][0] for op in ops if op["op_name"] == "DEQUANTIZE"}

    def const(idx):
        return np.array(it.get_tensor(dequant.get(idx, idx)), np.float32)

    out = []
    for op in ops:
        if op["op_name"] != "FULLY_CONNECTED" or len(op["inputs"]) < 3 or op["inputs"][2] < 0:
            continue
        if len(td[op["inputs"][0]]["shape"]) <= 2:
            continue
        out.append((td[op["outputs"][0]]["name"], const(op["inputs"][2])))
    return out


def fix_fc_bias(model, biases):
    g = model.graph
    prod = {o: n for n in g.node for o in n.output}
    fixed = 0
    for name, bias in biases:
        n = prod.get(name)
        if n is None:
            raise SystemExit(f"FC output {name} not found in ONNX graph")
        if n.op_type == "Gemm" and len(n.input) == 3:
            continue  # bias kept
        if n.op_type != "MatMul":
            raise SystemExit(f"FC output {name} produced by {n.op_type}, expected MatMul")
        n.output[0] = name + "__nobias"
        g.initializer.append(numpy_helper.from_array(bias, name + "__bias"))
        idx = list(g.node).index(n)
        g.node.insert(idx + 1, helper.make_node("Add", [name + "__nobias", name + "__bias"], [name],
                                                name=name + "__bias_add"))
        fixed += 1
    return fixed


def replace_softmax(model, logits, probs):
    """Replace tf2onnx's lowered softmax (ReduceMax/Sub/Exp/ReduceSum/Div with layout
    transposes whose form varies from run to run) by one Softmax over channels.
    `logits` must be an NCHW Conv output; `probs` is the NHWC probability tensor."""
    g = model.graph
    prod = {o: n for n in g.node for o in n.output}
    assert prod[logits].op_type == "Conv", prod[logits].op_type
    keep, stack = set(), [logits]
    while stack:  # ancestors of logits must stay
        n = prod.get(stack.pop())
        if n is not None and id(n) not in keep:
            keep.add(id(n))
            stack.extend(n.input)
    drop, stack = [], [probs]
    while stack:
        n = prod.get(stack.pop())
        if n is not None and id(n) not in keep and n not in drop:
            drop.append(n)
            stack.extend(n.input)
    for n in drop:
        g.node.remove(n)
    g.node.extend([
        helper.make_node("Softmax", [logits], [probs + "__nchw"], axis=1, name=probs + "__softmax"),
        helper.make_node("Transpose", [probs + "__nchw"], [probs], perm=[0, 2, 3, 1], name=probs + "__nhwc"),
    ])
    used = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
    return len(drop)


def rename(model, old, new):
    g = model.graph
    for n in g.node:
        n.input[:] = [new if i == old else i for i in n.input]
        n.output[:] = [new if o == old else o for o in n.output]
    for v in list(g.input) + list(g.output):
        if v.name == old:
            v.name = new


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--rename", action="append", default=[])
    ap.add_argument("--dynamic-batch", action="store_true")
    ap.add_argument("--dynamic-hw", action="store_true")
    ap.add_argument("--transpose-hw", action="store_true")
    ap.add_argument("--doc", default="")
    ap.add_argument("--softmax", help="LOGITS=PROBS: rebuild a lowered softmax as one Softmax")
    a = ap.parse_args()

    model, _ = tf2onnx.convert.from_tflite(a.src, opset=OPSET)
    n = fix_fc_bias(model, fc_biases(a.src))
    print(f"{a.src}: restored {n} FULLY_CONNECTED bias(es)")
    g = model.graph
    if a.softmax:
        logits, probs = a.softmax.split("=", 1)
        print(f"replaced {replace_softmax(model, logits, probs)} softmax node(s)")
    static_batch = g.input[0].type.tensor_type.shape.dim[0].dim_value

    if a.transpose_hw:
        orig_in = g.input[0].name
        rename(model, orig_in, orig_in + "__t")
        g.input[0].name = orig_in
        g.node.insert(0, helper.make_node("Transpose", [orig_in], [orig_in + "__t"], perm=[0, 2, 1, 3],
                                          name="input_hw_transpose"))
        for o in g.output:
            if len(o.type.tensor_type.shape.dim) == 4:
                public = o.name
                rename(model, public, public + "__t")
                o.name = public
                g.node.append(helper.make_node("Transpose", [public + "__t"], [public], perm=[0, 2, 1, 3],
                                               name=public + "_hw_transpose"))
        # the original graph input/output entries now describe transposed tensors: swap dims
        for v in [g.input[0]] + [o for o in g.output if len(o.type.tensor_type.shape.dim) == 4]:
            d = v.type.tensor_type.shape.dim
            d[1].dim_value, d[2].dim_value = d[2].dim_value, d[1].dim_value

    for r in a.rename:
        old, new = r.split("=", 1)
        rename(model, old, new)

    if a.dynamic_batch or a.dynamic_hw:
        # Reshape targets that bake the static batch size: use -1/0 for the batch axis.
        inits = {t.name: t for t in g.initializer}
        for node in g.node:
            if node.op_type == "Reshape" and node.input[1] in inits:
                shp = numpy_helper.to_array(inits[node.input[1]]).copy()
                if a.dynamic_batch and len(shp) >= 2 and shp[0] == static_batch and -1 not in shp:
                    shp[0] = -1
                    inits[node.input[1]].CopyFrom(numpy_helper.from_array(shp, node.input[1]))
        if a.dynamic_hw:
            # tf2onnx's optimizer turns a [1,1,h,w] <-> [1,h,w,1] transpose into a Reshape with
            # the static h,w baked in; turn it back into a Transpose (same data order).
            for i, node in enumerate(g.node):
                if node.op_type == "Reshape" and node.input[1] in inits:
                    shp = numpy_helper.to_array(inits[node.input[1]])
                    perm = None
                    if len(shp) == 4 and shp[0] == 1 and shp[3] == 1:
                        perm = [0, 2, 3, 1]  # [1,1,h,w] -> [1,h,w,1]
                    elif len(shp) == 4 and shp[0] == 1 and shp[1] == 1:
                        perm = [0, 3, 1, 2]  # [1,h,w,1] -> [1,1,h,w]
                    if perm:
                        g.node[i].CopyFrom(helper.make_node("Transpose", [node.input[0]], list(node.output),
                                                            perm=perm, name=node.name))
            # Explicit pads were computed for the static size; MTCNN P-Net's only pool is
            # TF 'SAME' (TFLite gives ceil(n/2) on odd sizes), so let the runtime pad.
            for node in g.node:
                if node.op_type == "MaxPool":
                    attrs = [x for x in node.attribute if x.name != "pads"]
                    del node.attribute[:]
                    node.attribute.extend(attrs + [helper.make_attribute("auto_pad", "SAME_UPPER")])
        for v in list(g.input) + list(g.output):
            d = v.type.tensor_type.shape.dim
            if a.dynamic_batch:
                d[0].dim_param = "batch"
            if a.dynamic_hw and len(d) == 4:
                d[1].dim_param = f"{v.name}_h"
                d[2].dim_param = f"{v.name}_w"
        del g.value_info[:]

    model.ir_version = 8
    model.producer_name = "vigil-tflite_to_onnx (tf2onnx)"
    model.doc_string = a.doc
    used = {nd.domain for nd in g.node}
    keep = [o for o in model.opset_import if o.domain in used or o.domain == ""]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    canonicalize(model)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, a.dst)
    print(f"wrote {a.dst}")


if __name__ == "__main__":
    main()
