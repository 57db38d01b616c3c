#!/usr/bin/python3
"""Validate exported graphs with the onnx package: the full checker and strict
shape inference, each graph given on the command line.

    /usr/bin/python3 tests/onnx/check.py [--ops] GRAPH.onnx...

Prints one line per graph ("ok PATH ..." or "FAIL PATH: reason"); exit 0 when
all pass, 1 otherwise, 77 when the onnx module is missing (Debian:
python3-onnx; call /usr/bin/python3, a pyenv python3 on PATH lacks it).
--ops also lists the operator types each graph uses.
"""
import os
import sys

try:
    import onnx
except ImportError:
    print("the onnx module is missing (Debian: apt-get install python3-onnx; "
          "run with /usr/bin/python3)", file=sys.stderr)
    sys.exit(77)

LIMIT = 2**31 - 1  # protobuf's message limit: bigger models go by path


def check(path, show_ops):
    bare = onnx.load(path, load_external_data=False)
    ext = any(t.data_location == onnx.TensorProto.EXTERNAL for t in bare.graph.initializer)
    m = onnx.load(path)  # with the weights of <name>.onnx.data when there are any
    if m.ByteSize() < LIMIT:
        onnx.checker.check_model(m, full_check=True)
        onnx.shape_inference.infer_shapes(m, strict_mode=True, check_type=True)
    else:
        onnx.checker.check_model(path, full_check=True)
        onnx.shape_inference.infer_shapes_path(path, path + ".inferred", strict_mode=True,
                                               check_type=True)
        os.remove(path + ".inferred")
    opset = {o.domain: o.version for o in m.opset_import}
    line = "ok %s: ir %d, opset %s, %d nodes, %d initializers%s" % (
        path, m.ir_version, opset.get("", "?"), len(m.graph.node), len(m.graph.initializer),
        ", external data" if ext else "")
    if show_ops:
        line += "\n  ops: " + " ".join(sorted({n.op_type for n in m.graph.node}))
    return line


def main(argv):
    show_ops = "--ops" in argv
    paths = [a for a in argv if a != "--ops"]
    if not paths:
        print(__doc__, file=sys.stderr)
        return 2
    bad = 0
    for p in paths:
        try:
            print(check(p, show_ops))
        except Exception as e:  # the checker raises several exception types
            print("FAIL %s: %s" % (p, str(e).strip().replace("\n", " | ")))
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
