// A Baileys account on wasim for messaging tests: creates (or reuses) the virtual phone, pairs
// Baileys with it through its QR (/admin/phones/{phone}/link) when the credentials are not
// registered yet, logs in, and then records every message and receipt Baileys emits. Used by
// messaging.mjs and by the peer.mjs CLI (tests/interop/README.md).
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { memoryKeys } from './baileys_state.mjs';

const require = createRequire(import.meta.url);

export async function loadBaileys(version) {
  if (String(version) === '6') return require('baileys6');
  if (String(version) === '7') return import('baileys');
  throw new Error(`--baileys must be 6 or 7, got ${version}`);
}

export const baileysLabel = (version) => (String(version) === '6' ? 'baileys@6.17.16' : 'baileys@7.0.0-rc14');

export async function admin(adminUrl, method, path, body) {
  const res = await fetch(`${adminUrl}${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

// A pino-like logger that keeps Baileys' warnings and errors (e.g. 'failed to decrypt message')
// so a test can assert there were none; `echo` also prints them to stderr.
function capturingLogger(sink, echo) {
  const keep = (level) => (obj, msg) => {
    const text = typeof obj === 'string' ? obj : (msg || obj?.msg || '');
    const err = obj?.err?.message || obj?.error?.message || '';
    sink.push({ level, msg: text, err });
    if (echo) process.stderr.write(`${JSON.stringify({ level, msg: text, err })}\n`);
  };
  const logger = {
    level: 'warn',
    child() { return logger; },
    trace() {}, info() {},
    debug: echo === 'debug' ? (obj, msg) => process.stderr.write(`${JSON.stringify({ level: 'debug', msg: msg || obj?.msg, obj: typeof obj === 'object' ? JSON.stringify(obj).slice(0, 600) : obj })}\n`) : () => {},
    warn: keep('warn'), error: keep('error'), fatal: keep('fatal'),
  };
  return logger;
}

// What a received WAMessage comes to: one JSON-friendly record.
function textOf(m) {
  const msg = m.message || {};
  const inner = msg.deviceSentMessage?.message || msg;
  // (protobufjs may give an unset conversation as '' next to an extendedTextMessage)
  return inner.conversation || inner.extendedTextMessage?.text || null;
}

function record(m) {
  const k = m.key || {};
  const stub = m.messageStubType;
  return {
    id: k.id,
    chat: k.remoteJid,
    chat_alt: k.remoteJidAlt || null,
    from: k.participant || k.remoteJid,
    from_me: Boolean(k.fromMe),
    text: textOf(m),
    type: m.message ? Object.keys(m.message).filter((t) => t !== 'messageContextInfo').join(',') : null,
    // Baileys marks a message it could not decrypt with stub CIPHERTEXT (2) and the reason.
    error: stub === 2 ? String(m.messageStubParameters?.[0] || 'decryption failed') : null,
  };
}

// Opens Baileys on `auth` ({creds, keys}); resolves once the connection is 'open'.
// `auth` defaults to fresh in-memory credentials (or an earlier peer's `peer.auth`); `authDir` uses
// Baileys' own multi-file store instead (so a later process continues the same account and Signal
// sessions). `socketConfig` adds to or overrides makeWASocket's options.
export async function openPeer({ version, wsUrl, adminUrl, phone, authDir, auth: givenAuth, stepMs = 20000, echoLog = false,
  onMessage, onReceipt, socketConfig = {} }) {
  const lib = await loadBaileys(version);
  const created = await admin(adminUrl, 'POST', '/phones', { phone });
  if (created.status >= 300) throw new Error(`POST /phones ${phone}: ${created.status} ${created.text}`);
  let auth;
  let saveCreds = async () => {};
  if (authDir) {
    mkdirSync(authDir, { recursive: true });
    const st = await lib.useMultiFileAuthState(authDir);
    auth = st.state;
    saveCreds = st.saveCreds;
  } else {
    // `auth` from an earlier openPeer (peer.auth) logs the same in-memory account in again.
    auth = givenAuth || { creds: lib.initAuthCreds(), keys: memoryKeys() };
  }
  // Baileys 6 holds back every event after login until it has an app-state sync key, which a
  // real phone sends after pairing; wasim's phones do no app-state sync, so Baileys 6 is told it
  // has a key (the id is never used: nothing syncs app state here).
  if (String(version) === '6' && !auth.creds.myAppStateKeyId) auth.creds.myAppStateKeyId = 'AAAAAAAA';
  const peer = {
    version: String(version), phone, lib, auth, sock: null,
    received: [], receipts: [], sent: new Map(), logs: [],
    me: null, lid: null,
  };
  const waiters = new Set();
  const wake = () => { for (const w of [...waiters]) w(); };

  const connect = () => new Promise((resolve) => {
    const events = [];
    const sock = lib.makeWASocket({
      waWebSocketUrl: wsUrl,
      logger: capturingLogger(peer.logs, echoLog),
      printQRInTerminal: false,
      auth,
      connectTimeoutMs: stepMs,
      syncFullHistory: false,
      markOnlineOnConnect: false,
      fireInitQueries: false,
      // Retry receipts are answered from what this peer sent.
      getMessage: async (key) => peer.sent.get(key.id),
      ...socketConfig,  // e.g. bench/messages: no history sync wait
    });
    sock.ev.on('creds.update', async (u) => { Object.assign(auth.creds, u); await saveCreds(); });
    sock.ev.on('messages.upsert', ({ messages }) => {
      for (const m of messages) {
        if (m.key?.fromMe && peer.sent.has(m.key.id)) continue;  // our own send echoed back
        const r = record(m);
        peer.received.push(r);
        onMessage?.(r);
      }
      wake();
    });
    // Status numbers as Baileys' proto.WebMessageInfo.Status: 2 server ack, 3 delivered, 4 read.
    sock.ev.on('messages.update', (updates) => {
      for (const u of updates) {
        if (u.update?.status === undefined || u.update?.status === null) continue;
        const r = { id: u.key?.id, chat: u.key?.remoteJid, status: u.update.status };
        peer.receipts.push(r);
        onReceipt?.(r);
      }
      wake();
    });
    // Group receipts come per participant.
    sock.ev.on('message-receipt.update', (updates) => {
      for (const u of updates) {
        const r = { id: u.key?.id, chat: u.key?.remoteJid, status: u.receipt?.readTimestamp ? 4 : 3,
          user: u.receipt?.userJid };
        peer.receipts.push(r);
        onReceipt?.(r);
      }
      wake();
    });
    sock.ev.on('connection.update', (u) => {
      if (u.qr) events.push({ kind: 'qr', qr: u.qr });
      if (u.connection === 'open') events.push({ kind: 'open' });
      if (u.connection === 'close') {
        const e = u.lastDisconnect?.error;
        events.push({ kind: 'close', status: e?.output?.statusCode, error: e?.message || String(e) });
      }
      wake();
    });
    const next = (kinds, ms = stepMs) => new Promise((res) => {
      const timer = setTimeout(() => { waiters.delete(look); res({ kind: 'timeout' }); }, ms);
      const look = () => {
        while (events.length) {
          const e = events.shift();
          if (kinds.includes(e.kind)) { clearTimeout(timer); waiters.delete(look); res(e); return; }
        }
      };
      waiters.add(look);
      look();
    });
    resolve({ sock, next });
  });

  const describe = (e) => `${e.kind}${e.status ? ` ${e.status}` : ''}${e.error ? `: ${e.error}` : ''}`;
  let { sock, next } = await connect();
  if (!auth.creds.registered && !auth.creds.me) {
    const qr = await next(['qr', 'close']);
    if (qr.kind !== 'qr') throw new Error(`${baileysLabel(version)}: no QR (${describe(qr)})`);
    const linked = await admin(adminUrl, 'POST', `/phones/${phone}/link`, { qr: qr.qr });
    if (linked.status !== 200) throw new Error(`/link: ${linked.status} ${linked.text}`);
    const restart = await next(['close', 'open']);
    if (restart.kind !== 'close' || restart.status !== 515) throw new Error(`pairing did not end with 515 (${describe(restart)})`);
    try { sock.end(undefined); } catch { /* closed */ }
    ({ sock, next } = await connect());
  }
  const open = await next(['open', 'close', 'qr']);
  if (open.kind !== 'open') throw new Error(`${baileysLabel(version)}: login failed (${describe(open)})`);
  peer.sock = sock;
  peer.me = auth.creds.me?.id || null;
  peer.lid = auth.creds.me?.lid || null;

  // Sends a text; resolves with the message id once Baileys has written it (the server ack
  // is not awaited by Baileys itself).
  peer.send = async (to, text) => {
    const m = await peer.sock.sendMessage(to, { text });
    peer.sent.set(m.key.id, m.message);
    return m.key.id;
  };
  // Resolves with the first received record matching `pred` (also one already received), or
  // null after `ms`.
  peer.waitFor = (pred, ms = stepMs) => new Promise((resolve) => {
    const timer = setTimeout(() => { waiters.delete(look); resolve(null); }, ms);
    const look = () => {
      const hit = peer.received.find(pred);
      if (hit) { clearTimeout(timer); waiters.delete(look); resolve(hit); }
    };
    waiters.add(look);
    look();
  });
  peer.waitReceipt = (pred, ms = stepMs) => new Promise((resolve) => {
    const timer = setTimeout(() => { waiters.delete(look); resolve(null); }, ms);
    const look = () => {
      const hit = peer.receipts.find(pred);
      if (hit) { clearTimeout(timer); waiters.delete(look); resolve(hit); }
    };
    waiters.add(look);
    look();
  });
  // Warnings/errors Baileys logged about decryption (none expected).
  peer.decryptFailures = () => peer.logs.filter((l) => /decrypt|bad mac|no session|no matching/i.test(`${l.msg} ${l.err}`));
  peer.end = async () => {
    try { peer.sock.end(undefined); } catch { /* closed */ }
    await new Promise((r) => setTimeout(r, 200));
  };
  return peer;
}
