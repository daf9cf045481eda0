// Test 2: differential codec test against Baileys. For each dictionary (v3: Baileys 7, v2:
// Baileys 6), a deterministic corpus of random nodes is
//   a) encoded by waconnector and decoded by Baileys: must give back the node;
//   b) encoded by Baileys and decoded by waconnector: must give back the node.
// Byte-identical encodings are counted too (informational: both libraries may legally differ,
// e.g. in how they write an empty string).
// Usage: node differential.mjs [--count N] [--seed S] [--dict 2|3] [--bin-dir DIR]
import { codecs } from './lib/baileys_codecs.mjs';
import { makeGenerator, baileysView, wireView, rng } from './lib/random_nodes.mjs';
import { sameNode, firstDifference, shortNode, abbrev, firstByteDifference, hexAround } from './lib/node_json.mjs';
import { oursDecode, oursEncode } from './lib/ours_cli.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';

failOnUncaught('differential');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const count = Number(arg('--count', 10000));
const seed = Number(arg('--seed', 20261124));
const dicts = arg('--dict') ? [Number(arg('--dict'))] : [3, 2];
const r = new Report('differential');

// What the corpus exercises, so a generator change that loses a case shows in the log.
function coverage(nodes) {
  const c = { nodes: 0, max_depth: 0, attrs_list16: 0, children_list16: 0, empty_child_list: 0,
    bin_0: 0, bin_8: 0, bin_20: 0, bin_64k_plus: 0, jid_values: 0, ad_jid_like: 0, empty_values: 0, string_content: 0 };
  const walk = (n, d) => {
    c.nodes++; c.max_depth = Math.max(c.max_depth, d);
    if (2 * n.attrs.length + 2 > 255) c.attrs_list16++;
    for (const [, v] of n.attrs) {
      if (v === '') c.empty_values++;
      if (v.includes('@')) { c.jid_values++; if (/:\d+@/.test(v)) c.ad_jid_like++; }
    }
    if (Array.isArray(n.content)) {
      if (n.content.length > 255) c.children_list16++;
      if (n.content.length === 0) c.empty_child_list++;
      n.content.forEach((k) => walk(k, d + 1));
    } else if (typeof n.content === 'string') {
      c.string_content++;
    } else if (n.content) {
      const len = n.content.bytes_hex.length / 2;
      if (len === 0) c.bin_0++; else if (len < 256) c.bin_8++; else c.bin_20++;
      if (len >= 65536) c.bin_64k_plus++;
    }
  };
  nodes.forEach((n) => walk(n, 0));
  return c;
}

for (const dict of dicts) {
  const baileys = codecs[dict];
  const gen = makeGenerator(seed + dict, baileys.constants, { dict });
  const nodes = Array.from({ length: count }, () => gen.node());
  const bhex = nodes.map((n) => baileys.encode(n).toString('hex'));
  const totalBytes = bhex.reduce((s, h) => s + h.length / 2, 0);
  r.note(`v${dict}: ${count} nodes (seed ${seed + dict}), ${totalBytes} bytes as encoded by ${baileys.name}`);
  r.note(`v${dict}: coverage ${JSON.stringify(coverage(nodes))}`);

  // Harness sanity: Baileys reads its own encoding back as baileysView(node).
  const views = nodes.map((n) => baileysView(n, baileys.constants));
  const wire = nodes.map((n) => wireView(n, baileys.constants));
  let bad = -1;
  for (let i = 0; i < nodes.length && bad < 0; i++) {
    if (!sameNode(baileys.decode(Buffer.from(bhex[i], 'hex')), views[i])) bad = i;
  }
  r.check(`v${dict} corpus round-trips through ${baileys.name} itself`, bad < 0,
    bad >= 0 ? `node ${bad}: ${firstDifference(views[bad], baileys.decode(Buffer.from(bhex[bad], 'hex')))}` : '');

  // a) ours -> Baileys
  const ours = await oursEncode(dict, nodes);
  let failures = 0, identical = 0, first = null;
  for (let i = 0; i < nodes.length; i++) {
    let why = null;
    if (ours[i].error) why = `waconnector refused to encode: ${ours[i].error}`;
    else {
      if (ours[i].hex === bhex[i]) identical++;
      try {
        const back = baileys.decode(Buffer.from(ours[i].hex, 'hex'));
        why = firstDifference(views[i], back);
        if (why) why = `Baileys decoded something else: ${why}`;
      } catch (e) { why = `Baileys cannot decode it: ${e.message}`; }
    }
    if (why) {
      failures++;
      if (!first) {
        const off = ours[i].hex ? firstByteDifference(ours[i].hex, bhex[i]) : -1;
        first = `node #${i}: ${why}\n     node: ${abbrev(shortNode(nodes[i]), 3000)}\n` +
          (ours[i].hex ? `     ours    ${abbrev(hexAround(ours[i].hex, off, 24))}\n     baileys ${abbrev(hexAround(bhex[i], off, 24))} (first differing byte ${off})` : '');
      }
    }
  }
  r.check(`v${dict} waconnector-encoded nodes decode identically in ${baileys.name} (${failures}/${count} mismatches)`,
    failures === 0, first || '');
  r.note(`v${dict}: ${identical}/${count} waconnector encodings byte-identical to ${baileys.name}'s`);

  // b) Baileys -> ours
  const dec = await oursDecode(dict, bhex);
  failures = 0; first = null;
  for (let i = 0; i < nodes.length; i++) {
    const why = dec[i].error ? `waconnector refused to decode: ${dec[i].error}` : firstDifference(wire[i], dec[i].node);
    if (why) {
      failures++;
      if (!first) first = `node #${i}: ${why}\n     node: ${abbrev(shortNode(nodes[i]), 3000)}\n     bytes: ${abbrev(bhex[i], 600)}`;
    }
  }
  r.check(`v${dict} ${baileys.name}-encoded nodes decode identically in waconnector (${failures}/${count} mismatches)`,
    failures === 0, first || '');
}

// Messenger and interop device JIDs (FB_JID, INTEROP_JID): Baileys 7 reads both but writes
// neither (its encoder has no such case), so only our encoder -> its decoder can be checked.
if (dicts.includes(3)) {
  const rr = rng(seed ^ 0x5eed);
  const digits = (n) => String(rr.int(1, 9)) + Array.from({ length: n - 1 }, () => rr.int(0, 9)).join('');
  const nodes = Array.from({ length: 500 }, (_, i) => ({
    tag: 'receipt',
    attrs: [['id', `${i}`],
      ['from', `${digits(rr.int(6, 15))}:${rr.int(0, 65535)}@msgr`],
      ['participant', `${rr.int(1, 65535)}-${digits(rr.int(6, 15))}:${rr.int(0, 65535)}@interop`]],
  }));
  const ours = await oursEncode(3, nodes);
  let failures = 0, first = null;
  for (let i = 0; i < nodes.length; i++) {
    let why;
    if (ours[i].error) why = `waconnector refused to encode: ${ours[i].error}`;
    else {
      try { why = firstDifference(nodes[i], codecs[3].decode(Buffer.from(ours[i].hex, 'hex'))); } catch (e) { why = `Baileys cannot decode it: ${e.message}`; }
    }
    if (why) { failures++; first = first || `node #${i}: ${why}\n     node: ${shortNode(nodes[i])}\n     ours: ${ours[i].hex}`; }
  }
  r.check(`v3 waconnector FB_JID/INTEROP_JID decode identically in ${codecs[3].name} (${failures}/${nodes.length} mismatches)`,
    failures === 0, first || '');
}

// The comparison itself must be able to fail: one corrupted byte in an encoding is noticed.
{
  const n = { tag: 'message', attrs: [['id', '3EB0AA'], ['to', '15551234567@s.whatsapp.net']], content: { bytes_hex: '00112233' } };
  const hex = codecs[3].encode(n).toString('hex');
  const bad = hex.slice(0, -2) + 'ff';
  r.check('harness notices a corrupted byte', firstDifference(n, codecs[3].decode(Buffer.from(bad, 'hex'))) !== null);
}
r.finish();
