// Baileys' binary-node codecs, keyed by token-dictionary version, plus conversion between
// Baileys' node objects and the project's JSON node format (the one in binary-vectors.json:
// attrs as ordered [key, value] pairs, content as a list of nodes, {bytes_hex} or a string).
//
// Baileys 7 is ESM ("type": "module", no "exports" map, so deep paths resolve); Baileys 6 is
// CommonJS and is installed under the npm alias "baileys6", so it is loaded with require().
import { createRequire } from 'node:module';
import * as b7 from 'baileys';
import * as b7constants from 'baileys/lib/WABinary/constants.js';

const require = createRequire(import.meta.url);
const b6binary = require('baileys6/lib/WABinary');
const b6constants = require('baileys6/lib/WABinary/constants');

function makeCodec(name, encodeBinaryNode, decodeDecompressedBinaryNode, constants) {
  return {
    name,
    constants,
    // JSON node -> full plaintext bytes, including the 0x00 frame flag byte.
    encode(jsonNode) {
      return encodeBinaryNode(toBaileys(jsonNode), constants);
    },
    // Full plaintext (flag byte first, uncompressed) -> JSON node. Trailing bytes are an error:
    // Baileys itself ignores them, but a harness that ignores them would hide encoder bugs.
    decode(buf) {
      if (buf.length < 1) throw new Error('empty buffer');
      if (buf[0] & 2) throw new Error('compressed frames are not used by these tests');
      const body = buf.subarray(1);
      const indexRef = { index: 0 };
      const node = decodeDecompressedBinaryNode(body, constants, indexRef);
      if (indexRef.index !== body.length) {
        throw new Error(`trailing bytes: decoded ${indexRef.index} of ${body.length}`);
      }
      return fromBaileys(node);
    },
  };
}

// v3 = Baileys 7 (what WhatsApp and whatsmeow use); v2 = Baileys 6's built-in tables.
export const codecs = {
  3: makeCodec('baileys@7.0.0-rc14', b7.encodeBinaryNode, b7.decodeDecompressedBinaryNode, b7constants),
  2: makeCodec('baileys@6.17.16', b6binary.encodeBinaryNode, b6binary.decodeDecompressedBinaryNode, b6constants),
};

// Baileys 6's encoder driven with the v3 tables: how binary-vectors.json was generated.
export const b6WithV3 = makeCodec('baileys@6.17.16+v3 tables', b6binary.encodeBinaryNode,
  b6binary.decodeDecompressedBinaryNode, b7constants);

export function toBaileys(n) {
  const attrs = {};
  for (const [k, v] of n.attrs || []) attrs[k] = v;
  let content;
  if (Array.isArray(n.content)) content = n.content.map(toBaileys);
  else if (typeof n.content === 'string') content = n.content;
  else if (n.content && typeof n.content.bytes_hex === 'string') content = Buffer.from(n.content.bytes_hex, 'hex');
  else if (n.content !== undefined && n.content !== null) throw new Error('unsupported content in JSON node');
  return { tag: n.tag, attrs, content };
}

export function fromBaileys(n) {
  const out = { tag: n.tag, attrs: Object.entries(n.attrs || {}) };
  if (Array.isArray(n.content)) out.content = n.content.map(fromBaileys);
  else if (n.content instanceof Uint8Array) out.content = { bytes_hex: Buffer.from(n.content).toString('hex') };
  else if (typeof n.content === 'string') out.content = n.content;
  return out;
}
