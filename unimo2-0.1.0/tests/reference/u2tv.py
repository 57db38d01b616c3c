"""U2TV test-vector files (doc/testvectors.md).

  "U2TV" | u32 version=1 | u32 entry count | u32 reserved=0
  per entry: u32 name length | name (UTF-8, no NUL) | u32 dtype (0 f32, 1 i32)
             | u32 ndim | u32 dims[ndim] | data (little-endian, prod(dims)*4 bytes)
"""

import struct

import numpy as np

MAGIC = b"U2TV"
VERSION = 1
F32, I32 = 0, 1


def write_u2tv(path, entries):
    """entries: list of (name, numpy array); float arrays become float32,
    integer arrays int32."""
    names = set()
    chunks = [MAGIC, struct.pack("<III", VERSION, len(entries), 0)]
    for name, arr in entries:
        if name in names:
            raise ValueError("duplicate entry %s" % name)
        names.add(name)
        arr = np.asarray(arr)
        if arr.dtype.kind == "f":
            dtype, data = F32, np.ascontiguousarray(arr, dtype="<f4")
        elif arr.dtype.kind in "iu":
            if arr.size and (arr.min() < -2**31 or arr.max() >= 2**31):
                raise ValueError("%s does not fit int32" % name)
            dtype, data = I32, np.ascontiguousarray(arr, dtype="<i4")
        else:
            raise ValueError("%s: unsupported dtype %s" % (name, arr.dtype))
        nb = name.encode("utf-8")
        chunks.append(struct.pack("<I", len(nb)) + nb)
        chunks.append(struct.pack("<II", dtype, arr.ndim))
        chunks.append(struct.pack("<%dI" % arr.ndim, *arr.shape))
        chunks.append(data.tobytes())
    with open(path, "wb") as f:
        f.write(b"".join(chunks))


def read_u2tv(path):
    """-> ordered {name: numpy array (float32 or int32)}."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:4] != MAGIC:
        raise ValueError("%s: not a U2TV file" % path)
    version, count, reserved = struct.unpack_from("<III", raw, 4)
    if version != VERSION or reserved != 0:
        raise ValueError("%s: unsupported version %d" % (path, version))
    pos = 16
    out = {}
    for _ in range(count):
        (nlen,) = struct.unpack_from("<I", raw, pos); pos += 4
        name = raw[pos:pos + nlen].decode("utf-8"); pos += nlen
        dtype, ndim = struct.unpack_from("<II", raw, pos); pos += 8
        dims = struct.unpack_from("<%dI" % ndim, raw, pos); pos += 4 * ndim
        n = int(np.prod(dims)) if ndim else 1
        np_dtype = "<f4" if dtype == F32 else "<i4"
        out[name] = np.frombuffer(raw, dtype=np_dtype, count=n, offset=pos).reshape(dims).copy()
        pos += 4 * n
    if pos != len(raw):
        raise ValueError("%s: trailing bytes" % path)
    return out
