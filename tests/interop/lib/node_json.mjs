// Comparing and printing JSON nodes in the project's format.

// Canonical form for comparison: key order inside objects is irrelevant, attribute order is
// kept (both codecs preserve it), a null content is the same as no content.
export function canonical(n) {
  const out = { tag: n.tag, attrs: (n.attrs || []).map(([k, v]) => [k, v]) };
  if (Array.isArray(n.content)) out.content = n.content.map(canonical);
  else if (typeof n.content === 'string') out.content = n.content;
  else if (n.content !== undefined && n.content !== null) {
    out.content = { ...n.content };
    if (typeof out.content.bytes_hex === 'string') out.content.bytes_hex = out.content.bytes_hex.toLowerCase();
  }
  return out;
}

export function sameNode(a, b) {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

// The first place two nodes differ, as a readable path ("root > message[0] > enc: attrs[1] value").
export function firstDifference(a, b, path = 'root') {
  a = canonical(a); b = canonical(b);
  if (a.tag !== b.tag) return `${path}: tag ${JSON.stringify(a.tag)} vs ${JSON.stringify(b.tag)}`;
  const here = `${path} > ${a.tag}`;
  const n = Math.max(a.attrs.length, b.attrs.length);
  for (let i = 0; i < n; i++) {
    const x = a.attrs[i], y = b.attrs[i];
    if (JSON.stringify(x) !== JSON.stringify(y)) {
      return `${here}: attrs[${i}] ${JSON.stringify(x)} vs ${JSON.stringify(y)}`;
    }
  }
  const ca = a.content, cb = b.content;
  if (Array.isArray(ca) && Array.isArray(cb)) {
    if (ca.length !== cb.length) return `${here}: ${ca.length} children vs ${cb.length}`;
    for (let i = 0; i < ca.length; i++) {
      const d = firstDifference(ca[i], cb[i], `${here}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (JSON.stringify(ca) !== JSON.stringify(cb)) {
    return `${here}: content ${abbrev(JSON.stringify(ca))} vs ${abbrev(JSON.stringify(cb))}`;
  }
  return null;
}

export function abbrev(s, max = 400) {
  if (s === undefined) return 'undefined';
  return s.length <= max ? s : `${s.slice(0, max)}... (${s.length} chars)`;
}

// A node for a report: long byte contents are shortened so one mismatch stays readable.
export function shortNode(n, max = 64) {
  const out = { tag: n.tag, attrs: n.attrs };
  if (Array.isArray(n.content)) out.content = n.content.map((c) => shortNode(c, max));
  else if (n.content && typeof n.content.bytes_hex === 'string' && n.content.bytes_hex.length > max) {
    out.content = { bytes_hex: `${n.content.bytes_hex.slice(0, max)}...(${n.content.bytes_hex.length / 2} bytes)` };
  } else if (n.content !== undefined) out.content = n.content;
  return JSON.stringify(out);
}

export function firstByteDifference(hexA, hexB) {
  const n = Math.min(hexA.length, hexB.length);
  for (let i = 0; i < n; i += 2) {
    if (hexA.slice(i, i + 2) !== hexB.slice(i, i + 2)) return i / 2;
  }
  return hexA.length === hexB.length ? -1 : n / 2;
}

// Hex around a byte offset, for reports.
export function hexAround(hex, offset, radius = 16) {
  const from = Math.max(0, offset - radius);
  const to = Math.min(hex.length / 2, offset + radius);
  return `[${from}..${to}) ${hex.slice(from * 2, to * 2)}`;
}
