// Deterministic random binary nodes (project JSON format) that exercise every encoding path:
// single- and double-byte tokens, nibble and hex packing (incl. the 127-character limit),
// raw strings of every length class, JIDs of every kind, binary content of 0..70,000 bytes,
// empty and long child lists, nesting.
//
// Nodes stay inside what the JSON form and Baileys' encoder express: no integer-like attribute
// keys (JS objects reorder them), no non-JID strings containing '@'. Two JID forms are lossy in
// Baileys' decoder and are included on purpose: a `:0` device (AD_JID device 0, read back as no
// device) and, for v3, an agent (`user_agent:device@s.whatsapp.net`, AD_JID domain byte = agent,
// read back without it). String content that no token, packing or JID covers goes on the wire
// as BINARY_* and comes back as bytes on both sides. wireView() / baileysView() give what our
// decoder / Baileys' decoder must return.

// splitmix32: tiny, fast and fully determined by the seed.
export function rng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const r = {
    u32: next,
    int: (lo, hi) => lo + (next() % (hi - lo + 1)), // inclusive
    chance: (p) => next() / 4294967296 < p,
    pick: (a) => a[next() % a.length],
    bytes: (n) => {
      const b = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) b[i] = next() & 0xff;
      return b;
    },
  };
  return r;
}

const DIGITS = '0123456789';
const HEXU = '0123456789ABCDEF';
const HEXL = '0123456789abcdef';
const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const WORDCH = ALNUM + '-_.:/+=!?#$%&*(),;<>[]{}|~^ ';
const UNICODE = ['é', 'ß', 'ü', 'Ω', 'ж', '中', '文', '日本', '🙂', '👍🏽', '✓', '€'];

function fromAlphabet(r, alphabet, n) {
  let s = '';
  for (let i = 0; i < n; i++) s += alphabet[r.u32() % alphabet.length];
  return s;
}

// Strings a JS object or the JSON format could mangle, or that Baileys would read as a JID.
function usableAsKey(s) {
  return s.length > 0 && !s.includes('@') && !/^(0|[1-9][0-9]*)$/.test(s) && s !== '__proto__';
}

export function makeGenerator(seed, constants, { dict }) {
  const r = rng(seed);
  const single = constants.SINGLE_BYTE_TOKENS.filter((t) => t && !t.includes('@'));
  const double = constants.DOUBLE_BYTE_TOKENS.flat().filter((t) => t && !t.includes('@'));

  const token = () => (r.chance(0.6) ? r.pick(single) : r.pick(double));

  const nibble = (maxLen = 127) => {
    const n = r.int(1, maxLen);
    let s = '';
    for (let i = 0; i < n; i++) s += r.chance(0.85) ? DIGITS[r.int(0, 9)] : r.pick(['-', '.']);
    return s;
  };
  const hexUpper = (maxLen = 127) => fromAlphabet(r, HEXU, r.int(1, maxLen));
  const hexLower = () => {
    // Must hold a lowercase letter, else it is plain nibble/hex packable.
    const s = fromAlphabet(r, HEXL, r.int(1, 80));
    return s + r.pick(['a', 'b', 'c', 'd', 'e', 'f']);
  };
  const plain = () => {
    const len = r.chance(0.05) ? r.int(200, 600) : r.int(1, 40); // >255 bytes: BINARY_20 string
    let s = fromAlphabet(r, WORDCH, len);
    if (r.chance(0.2)) s += r.pick(UNICODE) + fromAlphabet(r, ALNUM, r.int(0, 5));
    return s;
  };

  const phone = () => String(r.int(1, 9)) + fromAlphabet(r, DIGITS, r.int(6, 14));
  const device = () => (r.chance(0.03) ? 0 : r.int(1, 255)); // AD_JID carries one byte

  // JID text forms, as Baileys writes and reads them.
  const jidKinds = [
    () => `${phone()}@s.whatsapp.net`,                       // user (JID_PAIR, nibble user)
    () => `${phone()}:${device()}@s.whatsapp.net`,           // device (AD_JID domain 0)
    () => `${phone()}@lid`,                                  // LID user
    () => `${phone()}:${device()}@lid`,                      // LID device (AD_JID domain 1)
    () => `${phone()}-${r.int(1000000000, 1999999999)}@g.us`, // legacy group
    () => `120363${fromAlphabet(r, DIGITS, 12)}@g.us`,        // group
    () => 'status@broadcast',                                // status broadcast (token user)
    () => `${r.int(1000000000, 9999999999)}@broadcast`,      // broadcast list
    () => `${phone()}@newsletter`,
    () => `${phone()}@c.us`,
    () => r.pick(['@s.whatsapp.net', '@g.us', '@lid', '@broadcast', '@c.us', '@newsletter']), // server only
    () => `${fromAlphabet(r, 'abcdefghijklmnopqrstuvwxyz', r.int(1, 12))}@s.whatsapp.net`, // raw-string user
    () => `${phone()}@bot`,
  ];
  if (dict === 3) {
    // Baileys 7 maps these to AD_JID domains 128/129; Baileys 6 would read them back as
    // s.whatsapp.net/lid, so they are v3 only.
    jidKinds.push(() => `${phone()}:${device()}@hosted`, () => `${phone()}:${device()}@hosted.lid`,
      () => `${phone()}@hosted`);
    // Agent: any domain byte that names no server (0 WhatsApp, 1 LID, 128/129 hosted).
    jidKinds.push(() => `${phone()}_${r.pick([r.int(2, 127), r.int(130, 255)])}:${r.int(0, 255)}@s.whatsapp.net`);
  }
  const jid = () => r.pick(jidKinds)();

  const value = () => {
    const k = r.int(0, 99);
    if (k < 25) return token();
    if (k < 40) return jid();
    if (k < 52) return nibble();
    if (k < 55) return nibble(1) + fromAlphabet(r, DIGITS, 127); // 128+ chars: too long to pack
    if (k < 63) return hexUpper();
    if (k < 65) return fromAlphabet(r, HEXU, r.int(128, 160));   // too long to pack
    if (k < 70) return hexLower();
    if (k < 72) return '';
    return plain();
  };

  const key = () => {
    for (;;) {
      const k = r.chance(0.7) ? token() : (r.chance(0.5) ? fromAlphabet(r, 'abcdefghijklmnopqrstuvwxyz_-', r.int(1, 16)) : hexLower());
      if (usableAsKey(k)) return k;
    }
  };

  const tag = () => {
    for (;;) {
      const k = r.int(0, 9);
      const t = k < 7 ? token() : k < 8 ? fromAlphabet(r, 'abcdefghijklmnopqrstuvwxyz', r.int(1, 12)) : k < 9 ? nibble(20) : hexUpper(20);
      if (t && !t.includes('@')) return t;
    }
  };

  const binarySize = () => {
    const k = r.int(0, 999);
    if (k < 2) return r.int(65536, 70000);      // a few large ones, past 2^16
    if (k < 5) return r.int(4096, 65535);
    if (k < 30) return r.int(256, 4095);        // BINARY_20
    if (k < 60) return r.pick([0, 1, 255, 256]); // length-class boundaries
    return r.int(0, 255);                        // BINARY_8
  };

  const node = (depth) => {
    const n = { tag: tag(), attrs: [] };
    const nattrs = r.chance(0.01) ? r.int(126, 140) : r.int(0, 6); // 127+ attrs: LIST_16 header
    const seen = new Set();
    for (let i = 0; i < nattrs; i++) {
      const k = key();
      if (seen.has(k)) continue;
      seen.add(k);
      n.attrs.push([k, value()]);
    }
    const c = r.int(0, 99);
    if (c < 30) return n;
    if (c < 35) {
      // String content (e.g. a token or a number); never "" (Baileys 6 writes it as an empty list).
      const v = value();
      if (v !== '') n.content = v;
      return n;
    }
    if (c < 65) {
      n.content = { bytes_hex: r.bytes(binarySize()).toString('hex') };
      return n;
    }
    if (depth >= 6) return n;
    let kids = c < 67 ? 0 : r.int(1, 3);
    if (r.chance(0.005)) kids = r.int(256, 300); // LIST_16 child list
    n.content = [];
    for (let i = 0; i < kids; i++) n.content.push(kids > 10 ? leaf() : node(depth + 1));
    return n;
  };
  const leaf = () => ({ tag: tag(), attrs: r.chance(0.5) ? [[key(), value()]] : [] });

  return { node: () => node(0), rng: r };
}

// Would the encoders write this string as raw BINARY_* bytes (no token, packing or JID)?
function isRawString(s, constants) {
  if (constants.TOKEN_MAP[s]) return false;
  if (s.length <= 127 && /^[0-9.-]*$/.test(s)) return false;
  if (s.length <= 127 && /^[0-9A-F]*$/.test(s)) return false;
  return !s.includes('@');
}

// What a decoder returns for a node as both encoders write it: raw string content is bytes.
export function wireView(n, constants) {
  const out = { tag: n.tag, attrs: n.attrs };
  if (Array.isArray(n.content)) out.content = n.content.map((k) => wireView(k, constants));
  else if (typeof n.content === 'string' && isRawString(n.content, constants)) {
    out.content = { bytes_hex: Buffer.from(n.content, 'utf8').toString('hex') };
  } else if (n.content !== undefined) out.content = n.content;
  return out;
}

// What Baileys' decoder returns: the wire view, with devices `:0` and agents dropped.
export function baileysView(n, constants) {
  const jid = (v) => v.replace(/^([^@:_]*)(?:_\d+)?:(\d+)@(.*)$/, (m, u, d, srv) => (d === '0' ? `${u}@${srv}` : `${u}:${d}@${srv}`));
  const w = wireView(n, constants);
  const fix = (x) => {
    const out = { tag: x.tag, attrs: x.attrs.map(([k, v]) => [k, v.includes('@') ? jid(v) : v]) };
    if (Array.isArray(x.content)) out.content = x.content.map(fix);
    else if (typeof x.content === 'string') out.content = x.content.includes('@') ? jid(x.content) : x.content;
    else if (x.content !== undefined) out.content = x.content;
    return out;
  };
  return fix(w);
}
