#!/usr/bin/env node
'use strict';
// onnxruntime peer for unimo2-bench: time one exported graph at a given batch
// and thread count and print one JSON line
//   {"graph":"image_encoder","batch":8,"threads":1,"items_per_s":...,...}
//
//   node tests/onnx/bench.js --model DIR/image_encoder.onnx [--batch B]
//        [--threads T] [--reps N] [--warmup W] [--text-len L] [--input IN.u2ot]
//
// Session: graphOptimizationLevel 'all', executionMode 'sequential',
// intraOpNumThreads T.  Inputs come from --input (a U2OT file, see u2ot.js;
// its batch wins), else are drawn from the graph's declared inputs: B for the
// batch axis, L = --text-len (default: max_text_len of the unimo2.config
// stored in the model's metadata) for the text axis, pixels uniform in
// [-1, 1], token ids [CLS] w... [SEP] over the vocabulary, a full attention
// mask, token inputs N(0, 1).  Timing: W warm-up runs, then N timed runs; the
// median gives items_per_s = B / median.
const fs = require('fs');
const path = require('path');
const u2ot = require('./u2ot');

function usage() {
  return 'usage: node bench.js --model GRAPH.onnx [--batch B] [--threads T] [--reps N] ' +
    '[--warmup W] [--text-len L] [--input IN.u2ot]';
}

function parseArgs(argv) {
  const o = { batch: 1, threads: 1, reps: 20, warmup: 3, textLen: 0, model: null, input: null };
  const num = (v, what) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${what}: expected a positive integer, not "${v}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i], v = argv[i + 1];
    switch (a) {
      case '--model': o.model = v; i++; break;
      case '--input': o.input = v; i++; break;
      case '--batch': o.batch = num(v, a); i++; break;
      case '--threads': o.threads = num(v, a); i++; break;
      case '--reps': o.reps = num(v, a); i++; break;
      case '--warmup': o.warmup = Number(v); i++; break;
      case '--text-len': o.textLen = num(v, a); i++; break;
      case '-h': case '--help': console.log(usage()); process.exit(0); break;
      default: throw new Error(`unknown option ${a}\n${usage()}`);
    }
  }
  if (!o.model) throw new Error(usage());
  return o;
}

// metadata_props (ModelProto field 14) of an .onnx file, read field by field
// so that the graph (field 7, possibly a GB) is skipped, not loaded.
function onnxMetadata(file) {
  const fd = fs.openSync(file, 'r');
  const size = fs.fstatSync(fd).size;
  const meta = {};
  const byte = Buffer.alloc(1);
  let pos = 0;
  const varint = () => {
    let v = 0, mul = 1;
    for (;;) {
      if (fs.readSync(fd, byte, 0, 1, pos++) !== 1) throw new Error(`${file}: truncated`);
      v += (byte[0] & 0x7f) * mul;
      if (!(byte[0] & 0x80)) return v;
      mul *= 128;
    }
  };
  const strings = (buf) => { // StringStringEntryProto: 1 key, 2 value
    const kv = {};
    let p = 0;
    while (p < buf.length) {
      const key = buf[p++], len = buf[p++]; // short keys; longer lengths below
      let n = len & 0x7f, shift = 7, b = len;
      while (b & 0x80) { b = buf[p++]; n += (b & 0x7f) * 2 ** shift; shift += 7; }
      kv[key >> 3] = buf.toString('utf8', p, p + n);
      p += n;
    }
    return kv;
  };
  try {
    while (pos < size) {
      const key = varint(), field = Math.floor(key / 8), wt = key % 8;
      if (wt === 0) varint();
      else if (wt === 1) pos += 8;
      else if (wt === 5) pos += 4;
      else if (wt === 2) {
        const len = varint();
        if (field === 14) {
          const buf = Buffer.alloc(len);
          fs.readSync(fd, buf, 0, len, pos);
          const kv = strings(buf);
          meta[kv[1]] = kv[2];
        }
        pos += len;
      } else break;
    }
  } finally {
    fs.closeSync(fd);
  }
  return meta;
}

function makeInputs(ort, session, o, cfg) {
  const L = o.textLen || (cfg && cfg.max_text_len) || 16;
  const V = (cfg && cfg.vocab_size) || 512;
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const feeds = {};
  for (const md of session.inputMetadata) {
    const dims = md.shape.map((d) => (d === 'B' ? o.batch : d === 'L' ? L : d));
    if (dims.some((d) => typeof d !== 'number')) throw new Error(`input ${md.name}: unknown dim in [${md.shape}]`);
    const n = dims.reduce((a, b) => a * b, 1);
    let data;
    if (md.type === 'int64') {
      data = new BigInt64Array(n);
      const T = dims[dims.length - 1];
      for (let i = 0; i < n; i++) {
        const j = i % T;
        if (md.name === 'attention_mask') data[i] = 1n;
        else data[i] = BigInt(j === 0 ? 0 : j === T - 1 ? 2 : 4 + Math.floor(rand() * (V - 4)));
      }
    } else {
      data = new Float32Array(n);
      for (let i = 0; i < n; i++) data[i] = md.name === 'pixels' ? 2 * rand() - 1 : Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(6.283185307 * rand());
    }
    feeds[md.name] = new ort.Tensor(md.type, data, dims);
  }
  return feeds;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  const ort = u2ot.loadOrt();
  const session = await ort.InferenceSession.create(o.model, u2ot.sessionOptions(o.threads));
  let feeds;
  if (o.input) {
    const given = new Map(u2ot.read(o.input).map((t) => [t.name, t]));
    feeds = {};
    for (const name of session.inputNames) {
      const t = given.get(name);
      if (!t) throw new Error(`${o.input}: no tensor "${name}"`);
      feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      o.batch = t.dims[0];
    }
  } else {
    let cfg = null;
    try { cfg = JSON.parse(onnxMetadata(o.model)['unimo2.config'] || 'null'); } catch (e) { cfg = null; }
    feeds = makeInputs(ort, session, o, cfg);
  }
  for (let i = 0; i < o.warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < o.reps; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid] : 0.5 * (times[mid - 1] + times[mid]);
  console.log(JSON.stringify({
    graph: path.basename(o.model).replace(/\.onnx$/, ''),
    batch: o.batch,
    threads: o.threads,
    items_per_s: o.batch / median,
    median_ms: 1e3 * median,
    reps: o.reps,
    runtime: 'onnxruntime-node ' + ort.env.versions.node,
  }));
  await session.release();
}

main().catch((err) => {
  console.error('bench.js: ' + (err && err.message ? err.message : err));
  process.exit(1);
});
