"""Deterministic tensor and node names for converter output.

tf2onnx numbers the constants it folds (`const_fold_opt__58`) in an order that changes
from run to run, and may emit independent nodes in either order, so identical models
came out with different bytes. We re-sort the nodes topologically with a key that does
not depend on names, rename every internal tensor by its first use (graph inputs/outputs
keep their names) and order initializers the same way: regeneration is then
byte-for-byte reproducible.
"""
import hashlib


def _toposort(g):
    inits = {t.name: t for t in g.initializer}
    const_key = {n: hashlib.sha256(t.SerializeToString().replace(n.encode(), b"")).hexdigest()
                 for n, t in inits.items()}
    producer_pos = {v.name: -1 for v in g.input}
    pending = list(g.node)
    ordered = []

    def ready(n):
        return all(i == "" or i in inits or i in producer_pos for i in n.input)

    def key(n):
        attrs = b"".join(a.SerializeToString() for a in sorted(n.attribute, key=lambda a: a.name))
        return (tuple(producer_pos.get(i, -2) for i in n.input),
                n.op_type, attrs, tuple(const_key.get(i, "") for i in n.input))

    while pending:
        cands = [n for n in pending if ready(n)]
        if not cands:
            raise SystemExit("graph is not a DAG")
        n = min(cands, key=key)
        pending.remove(n)
        for o in n.output:
            producer_pos[o] = len(ordered)
        ordered.append(n)
    del g.node[:]
    g.node.extend(ordered)


def canonicalize(model):
    g = model.graph
    _toposort(g)
    for n in g.node:
        if n.domain == "":
            n.ClearField("domain")
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
