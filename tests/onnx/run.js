#!/usr/bin/env node
'use strict';
// Run exported graphs with onnxruntime on inputs from U2OT files (u2ot.js)
// and write every output to another U2OT file.
//
//   node tests/onnx/run.js [--threads N] MODEL.onnx IN.u2ot OUT.u2ot [MODEL IN OUT ...]
//
// Session: graphOptimizationLevel 'all', executionMode 'sequential',
// intraOpNumThreads N (default 1).  The inputs the graph declares are looked
// up by name in IN; extra tensors in IN are ignored.
const u2ot = require('./u2ot');

async function main(argv) {
  let threads = 1;
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--threads') threads = parseInt(argv[++i], 10);
    else if (argv[i] === '--help' || argv[i] === '-h') {
      console.log('usage: node run.js [--threads N] MODEL.onnx IN.u2ot OUT.u2ot [MODEL IN OUT ...]');
      return 0;
    } else rest.push(argv[i]);
  }
  if (!(threads >= 1) || rest.length === 0 || rest.length % 3 !== 0) {
    console.error('usage: node run.js [--threads N] MODEL.onnx IN.u2ot OUT.u2ot [MODEL IN OUT ...]');
    return 2;
  }
  const ort = u2ot.loadOrt();
  for (let i = 0; i < rest.length; i += 3) {
    const [model, inPath, outPath] = rest.slice(i, i + 3);
    const session = await ort.InferenceSession.create(model, u2ot.sessionOptions(threads));
    const given = new Map(u2ot.read(inPath).map((t) => [t.name, t]));
    const feeds = {};
    for (const name of session.inputNames) {
      const t = given.get(name);
      if (!t) throw new Error(`${inPath}: no tensor "${name}" for ${model}`);
      feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
    }
    const res = await session.run(feeds);
    const outs = session.outputNames.map((name) => {
      const t = res[name];
      return { name, type: t.type, dims: t.dims, data: t.data };
    });
    u2ot.write(outPath, outs);
    await session.release();
  }
  return 0;
}

main(process.argv.slice(2)).then((rc) => process.exit(rc), (err) => {
  console.error('run.js: ' + (err && err.message ? err.message : err));
  process.exit(1);
});
