"""Hand-written safetensors reader and writer (F32 tensors only).

Layout: u64 little-endian header length N, then N bytes of JSON
  {"__metadata__": {str: str}, name: {"dtype": "F32", "shape": [...],
   "data_offsets": [begin, end]}, ...}
(padded with spaces so the data starts at a multiple of 8), then the raw
little-endian tensor data; offsets are relative to the start of the data.
"""

import json
import struct

import numpy as np


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered {name: float32 array}; metadata: {str: str}."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": [int(d) for d in arr.shape],
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """-> (ordered {name: float32 array}, metadata dict)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if info["dtype"] != "F32":
            raise ValueError("%s: dtype %s not supported" % (name, info["dtype"]))
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[b:e], dtype="<f4").reshape(info["shape"])
        tensors[name] = arr.copy()
    return tensors, metadata
