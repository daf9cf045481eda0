// Test 1: every vector of binary-vectors.json decodes to its node and encodes back to the same
// bytes under both dictionaries, through waconnector's CLI and through Baileys (the latter
// checks the harness itself: Baileys made the vectors).
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { codecs, b6WithV3 } from './lib/baileys_codecs.mjs';
import { sameNode, firstDifference, firstByteDifference, hexAround } from './lib/node_json.mjs';
import { oursDecode, oursEncode } from './lib/ours_cli.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';

failOnUncaught('vectors');
const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '..', '..');

// The project's copy of the vectors, else the shared reference beside the checkout.
function vectorsFile() {
  const candidates = [process.env.WACONN_VECTORS,
    path.join(repo, 'tests', 'core_binary', 'data', 'binary-vectors.json'),
    path.join(repo, '..', 'shared', 'reference', 'binary-vectors.json')].filter(Boolean);
  const f = candidates.find((c) => existsSync(c));
  if (!f) throw new Error(`binary-vectors.json not found (tried ${candidates.join(', ')})`);
  return f;
}

const file = vectorsFile();
const { vectors } = JSON.parse(readFileSync(file, 'utf8'));
const r = new Report('vectors');
r.note(`${vectors.length} vectors from ${file}`);

function checkCodec(label, encode, decode, v, hex) {
  let decoded;
  try { decoded = decode(Buffer.from(hex, 'hex')); } catch (e) { decoded = e; }
  r.check(`${label} decodes ${v.name}`, !(decoded instanceof Error) && sameNode(decoded, v.node),
    decoded instanceof Error ? decoded.message : firstDifference(v.node, decoded) || '');
  let enc;
  try { enc = encode(v.node).toString('hex'); } catch (e) { enc = e; }
  r.check(`${label} encodes ${v.name}`, enc === hex,
    enc instanceof Error ? enc.message : `first difference at byte ${firstByteDifference(enc, hex)}: got ` +
      `${hexAround(enc, firstByteDifference(enc, hex))} want ${hexAround(hex, firstByteDifference(enc, hex))}`);
}

for (const dict of [3, 2]) {
  const key = `hex_dict_v${dict}`;
  const want = vectors.map((v) => v[key].toLowerCase());
  // Harness sanity through Baileys.
  for (let i = 0; i < vectors.length; i++) {
    const c = codecs[dict];
    checkCodec(`${c.name} (v${dict})`, (n) => c.encode(n), (b) => c.decode(b), vectors[i], want[i]);
    if (dict === 3) checkCodec(b6WithV3.name, (n) => b6WithV3.encode(n), (b) => b6WithV3.decode(b), vectors[i], want[i]);
  }
  // Ours.
  const dec = await oursDecode(dict, want);
  const enc = await oursEncode(dict, vectors.map((v) => v.node));
  for (let i = 0; i < vectors.length; i++) {
    const v = vectors[i];
    r.check(`waconnector (v${dict}) decodes ${v.name}`, !dec[i].error && sameNode(dec[i].node, v.node),
      dec[i].error ? `error: ${dec[i].error}` : firstDifference(v.node, dec[i].node) || '');
    const off = enc[i].error ? -1 : firstByteDifference(enc[i].hex, want[i]);
    r.check(`waconnector (v${dict}) encodes ${v.name}`, !enc[i].error && enc[i].hex === want[i],
      enc[i].error ? `error: ${enc[i].error}` :
        `first difference at byte ${off}: got ${hexAround(enc[i].hex, off)} want ${hexAround(want[i], off)}`);
  }
}
r.finish();
