// The Node side of bench_codec: Baileys 7's encodeBinaryNode / decodeDecompressedBinaryNode
// (dictionary v3) timed on the corpus bench_codec wrote (one JSON node per line). Prints one
// JSON line: {who, nodes, bytes, encode_ns_per_node, decode_ns_per_node} (wall clock) and the
// same as encode_cpu_ns_per_node, decode_cpu_ns_per_node (process CPU time).
//   node baileys_codec.mjs --corpus FILE --interop-dir DIR [--rounds R]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const corpusFile = arg('--corpus');
const interopDir = arg('--interop-dir');
const rounds = Math.max(1, Number(arg('--rounds', 5)));
if (!corpusFile || !interopDir) {
  console.error('usage: node baileys_codec.mjs --corpus FILE --interop-dir DIR [--rounds R]');
  process.exit(2);
}

// Baileys is installed in tests/interop, not beside this script: resolve it from there.
const require = createRequire(path.join(path.resolve(interopDir), 'package.json'));
const b7 = await import(pathToFileURL(require.resolve('baileys')).href);
const version = JSON.parse(readFileSync(require.resolve('baileys/package.json'), 'utf8')).version;
const constants = await import(pathToFileURL(path.join(path.dirname(require.resolve('baileys/package.json')),
  'lib', 'WABinary', 'constants.js')).href);

// Not timed: JSON -> Baileys node objects.
const toBaileys = (n) => {
  const attrs = {};
  for (const [k, v] of n.attrs || []) attrs[k] = v;
  let content;
  if (Array.isArray(n.content)) content = n.content.map(toBaileys);
  else if (n.content && typeof n.content.bytes_hex === 'string') content = Buffer.from(n.content.bytes_hex, 'hex');
  return { tag: n.tag, attrs, content };
};
const nodes = readFileSync(corpusFile, 'utf8').split('\n').filter(Boolean).map((l) => toBaileys(JSON.parse(l)));

const median = (v) => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)];
const enc = [], dec = [], encCpu = [], decCpu = [];
// CPU time of the process (all its threads, so GC and compiler helpers count), in ns.
const cpuNs = (u) => (u.user + u.system) * 1000;
let encoded = [];
let sink = 0;
for (let round = 0; round <= rounds; round++) { // round 0 warms the JIT
  let t0 = process.hrtime.bigint();
  let c0 = process.cpuUsage();
  encoded = nodes.map((n) => b7.encodeBinaryNode(n, constants));
  const e = Number(process.hrtime.bigint() - t0);
  const ec = cpuNs(process.cpuUsage(c0));
  t0 = process.hrtime.bigint();
  c0 = process.cpuUsage();
  for (const b of encoded) sink += Object.keys(b7.decodeDecompressedBinaryNode(b.subarray(1), constants).attrs).length;
  const d = Number(process.hrtime.bigint() - t0);
  const dc = cpuNs(process.cpuUsage(c0));
  if (round > 0) {
    enc.push(e / nodes.length); dec.push(d / nodes.length);
    encCpu.push(ec / nodes.length); decCpu.push(dc / nodes.length);
  }
}
const bytes = encoded.reduce((s, b) => s + b.length, 0);
console.log(JSON.stringify({
  who: `Baileys ${version} (Node ${process.versions.node})`, nodes: nodes.length, bytes,
  encode_ns_per_node: median(enc), decode_ns_per_node: median(dec),
  encode_cpu_ns_per_node: median(encCpu), decode_cpu_ns_per_node: median(decCpu), sink,
}));
