'use strict';
// U2OT tensor files: the inputs and outputs exchanged between the C tests
// and onnxruntime (doc/onnx.md).  Little-endian:
//   "U2OT", u32 version (1), u32 count, u32 reserved (0), then per tensor:
//   u32 name length, name (UTF-8), u32 dtype (ONNX TensorProto: 1 float32,
//   7 int64), u32 ndim, i64 dims[ndim], the data (row-major).
const fs = require('fs');

const DTYPES = { 1: ['float32', Float32Array], 7: ['int64', BigInt64Array] };
const CODES = { float32: 1, int64: 7 };

function read(path) {
  const buf = fs.readFileSync(path);
  if (buf.length < 16 || buf.toString('latin1', 0, 4) !== 'U2OT')
    throw new Error(`${path}: not a U2OT file`);
  if (buf.readUInt32LE(4) !== 1) throw new Error(`${path}: U2OT version ${buf.readUInt32LE(4)}, expected 1`);
  const n = buf.readUInt32LE(8);
  const out = [];
  let p = 16;
  for (let i = 0; i < n; i++) {
    const nl = buf.readUInt32LE(p); p += 4;
    const name = buf.toString('utf8', p, p + nl); p += nl;
    const code = buf.readUInt32LE(p); const ndim = buf.readUInt32LE(p + 4); p += 8;
    if (!DTYPES[code]) throw new Error(`${path}: ${name}: unsupported dtype ${code}`);
    const dims = [];
    for (let d = 0; d < ndim; d++) { dims.push(Number(buf.readBigInt64LE(p))); p += 8; }
    const [type, Arr] = DTYPES[code];
    const count = dims.reduce((a, b) => a * b, 1);
    const bytes = count * Arr.BYTES_PER_ELEMENT;
    if (p + bytes > buf.length) throw new Error(`${path}: ${name}: truncated`);
    // copy: typed arrays need aligned offsets
    const data = new Arr(buf.buffer.slice(buf.byteOffset + p, buf.byteOffset + p + bytes));
    p += bytes;
    out.push({ name, type, dims, data });
  }
  return out;
}

function write(path, tensors) {
  const parts = [];
  const head = Buffer.alloc(16);
  head.write('U2OT', 0, 'latin1');
  head.writeUInt32LE(1, 4);
  head.writeUInt32LE(tensors.length, 8);
  parts.push(head);
  for (const t of tensors) {
    const name = Buffer.from(t.name, 'utf8');
    const code = CODES[t.type];
    if (!code) throw new Error(`${t.name}: cannot write tensors of type ${t.type}`);
    const h = Buffer.alloc(12 + name.length + 8 * t.dims.length);
    h.writeUInt32LE(name.length, 0);
    name.copy(h, 4);
    h.writeUInt32LE(code, 4 + name.length);
    h.writeUInt32LE(t.dims.length, 8 + name.length);
    t.dims.forEach((d, i) => h.writeBigInt64LE(BigInt(d), 12 + name.length + 8 * i));
    parts.push(h, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  const tmp = `${path}.tmp${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat(parts));
  fs.renameSync(tmp, path);
}

// onnxruntime-node from this directory's node_modules or NODE_PATH; exit 77
// (automake SKIP) with a hint when it is not installed.
function loadOrt() {
  try {
    return require('onnxruntime-node');
  } catch (e) {
    console.error('onnxruntime-node is not installed: run sh tests/onnx/install.sh (' + e.message.split('\n')[0] + ')');
    process.exit(77);
  }
}

function sessionOptions(threads) {
  return {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  };
}

module.exports = { read, write, loadOrt, sessionOptions };
