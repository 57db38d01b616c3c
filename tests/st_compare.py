#!/usr/bin/python3
"""Compare the weights of two safetensors files (tests/test_mpi.sh).

  st_compare.py A B [--max X]   prints the largest |a - b| over the model's
                                tensors (adam.* moments left out) and where;
                                exit 1 when it exceeds X or the names, shapes
                                or dtypes differ
  st_compare.py --step CKPT     prints the step of a training checkpoint

Reads the format directly (8-byte little-endian header length, JSON header,
raw data): Debian has no python3-safetensors."""
import json
import struct
import sys

import numpy as np


def read(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        if t["dtype"] != "F32":
            raise SystemExit(f"{path}: {name}: dtype {t['dtype']}, expected F32")
        b, e = t["data_offsets"]
        tensors[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype="<f4").reshape(t["shape"])
    return tensors, meta


def main(argv):
    if len(argv) == 2 and argv[0] == "--step":
        _, meta = read(argv[1])
        print(json.loads(meta["unimo2.train_state"])["step"])
        return 0
    limit = None
    if "--max" in argv:
        i = argv.index("--max")
        limit = float(argv[i + 1])
        del argv[i:i + 2]
    a, _ = read(argv[0])
    b, _ = read(argv[1])
    names = sorted(k for k in a if not k.startswith("adam."))
    if names != sorted(k for k in b if not k.startswith("adam.")):
        print("the tensor names differ")
        return 1
    worst, where, differ, total = 0.0, "", 0, 0
    for k in names:
        if a[k].shape != b[k].shape:
            print(f"{k}: shapes {a[k].shape} and {b[k].shape}")
            return 1
        d = np.abs(a[k].astype(np.float64) - b[k].astype(np.float64))
        differ += int(np.count_nonzero(d))
        total += d.size
        if d.size and d.max() > worst:
            worst, where = float(d.max()), k
    print(f"max |a-b| = {worst:.3g}{' (' + where + ')' if where else ''}; "
          f"{differ} of {total} weights differ")
    return 0 if limit is None or worst <= limit else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
