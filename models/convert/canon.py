"""Deterministic tensor and node names for converter output.

tf2onnx numbers the constants it folds (`const_fold_opt__58`) in an order that changes
from run to run, so identical models came out with different bytes. Renaming every
internal tensor by its first use (graph inputs/outputs keep their names) and ordering
initializers the same way makes regeneration byte-for-byte reproducible.
"""


def canonicalize(model):
    g = model.graph
    keep = {v.name for v in list(g.input) + list(g.output)}
    inits = {t.name: t for t in g.initializer}
    names = {}

    def new(name):
        if name == "" or name in keep:
            return name
        if name not in names:
            names[name] = f"t{len(names)}"
        return names[name]

    for i, node in enumerate(g.node):
        node.input[:] = [new(x) for x in node.input]
        node.output[:] = [new(x) for x in node.output]
        node.name = f"n{i}_{node.op_type}"
    ordered = []
    for old, nn in names.items():
        if old in inits:
            t = inits.pop(old)
            t.name = nn
            ordered.append(t)
    for name, t in inits.items():  # unused or graph-input initializers: stable order
        t.name = new(name)
        ordered.append(t)
    del g.initializer[:]
    g.initializer.extend(ordered)
    del g.value_info[:]
    return model
