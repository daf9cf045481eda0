// Test 3: Baileys 7 and Baileys 6, pointed at wasim, complete the Noise handshake, register,
// and emit a QR (connection.update with `qr`) within 10 s. In-memory auth state only.
//
// Certificate chain: Baileys 6 checks only that the intermediate's issuerSerial is 0. Baileys 7
// also verifies the intermediate's signature under WhatsApp's production root key, which it
// reads at handshake time from the exported, mutable object WA_CERT_DETAILS (lib/Defaults).
// wasim cannot sign under that key, so this test puts wasim's root public key into
// WA_CERT_DETAILS.PUBLIC_KEY in-process -- the same trust switch waconnector has as
// --wa-root-key. A negative control first shows that Baileys 7 does reject wasim's chain
// without it, so the hook is real and wasim's chain is actually being verified.
import { createRequire } from 'node:module';
import * as b7 from 'baileys';
import { startWasim } from './lib/wasim.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';

failOnUncaught('handshake');
const require = createRequire(import.meta.url);
const b6 = require('baileys6');
const QR_DEADLINE_MS = 10000;

// Baileys wants a pino-like logger; a silent one keeps test output to our own lines.
const silent = {
  level: 'silent',
  child() { return silent; },
  trace() {}, debug() {}, info() {}, warn() {}, error() {}, fatal() {},
};

// A plain in-memory Signal key store: get(type, ids) / set({type: {id: value|null}}).
function memoryKeys() {
  const data = new Map();
  return {
    async get(type, ids) {
      const out = {};
      for (const id of ids) if (data.has(`${type}/${id}`)) out[id] = data.get(`${type}/${id}`);
      return out;
    },
    async set(obj) {
      for (const type of Object.keys(obj)) {
        for (const id of Object.keys(obj[type])) {
          const v = obj[type][id];
          if (v === null || v === undefined) data.delete(`${type}/${id}`); else data.set(`${type}/${id}`, v);
        }
      }
    },
  };
}

// Connects one Baileys socket; resolves with what happened first: a QR, a close, or the deadline.
function connect(lib, wsUrl) {
  const creds = lib.initAuthCreds();
  const started = Date.now();
  const sock = lib.makeWASocket({
    waWebSocketUrl: wsUrl,
    logger: silent,
    printQRInTerminal: false,
    auth: { creds, keys: memoryKeys() },
    connectTimeoutMs: QR_DEADLINE_MS,
  });
  return new Promise((resolve) => {
    let done = false;
    const finish = (outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      try { sock.end(undefined); } catch { /* already closed */ }
      resolve({ ...outcome, ms: Date.now() - started, creds });
    };
    const timer = setTimeout(() => finish({ kind: 'timeout' }), QR_DEADLINE_MS);
    sock.ev.on('connection.update', (u) => {
      if (u.qr) finish({ kind: 'qr', qr: u.qr });
      else if (u.connection === 'close') {
        const e = u.lastDisconnect?.error;
        finish({ kind: 'close', error: e?.message || String(e), status: e?.output?.statusCode });
      }
    });
  });
}

// The QR must be the one for this client: its noise and identity public keys and adv secret.
function qrMatchesCreds(qr, creds, withPrefix) {
  const prefix = 'https://wa.me/settings/linked_devices#';
  let body = qr;
  if (withPrefix) {
    if (!qr.startsWith(prefix)) return `QR does not start with ${prefix}: ${qr}`;
    body = qr.slice(prefix.length);
  }
  const parts = body.split(',');
  const want = withPrefix ? 5 : 4;
  if (parts.length !== want) return `QR has ${parts.length} comma-separated parts, want ${want}: ${qr}`;
  const b64 = (k) => Buffer.from(k).toString('base64');
  if (!parts[0]) return 'QR has an empty ref';
  if (parts[1] !== b64(creds.noiseKey.public)) return 'QR noise key is not this client\'s';
  if (parts[2] !== b64(creds.signedIdentityKey.public)) return 'QR identity key is not this client\'s';
  if (parts[3] !== creds.advSecretKey) return 'QR adv secret is not this client\'s';
  return null;
}

const r = new Report('handshake');
const sim = await startWasim();
try {
  r.note(`wasim at ${sim.wsUrl}, root key ${sim.rootKey.slice(0, 16)}...`);
  const productionRoot = Buffer.from(b7.WA_CERT_DETAILS.PUBLIC_KEY);

  // Negative control: Baileys 7 with WhatsApp's production root refuses wasim's chain.
  const neg = await connect(b7, sim.wsUrl);
  r.check('baileys@7 with the production root key rejects wasim\'s certificate chain',
    neg.kind === 'close' && /intermediate certificate signature invalid/.test(neg.error),
    `got ${neg.kind}${neg.error ? `: ${neg.error}` : ''}`);

  // Trust wasim's root, as waconnector's --wa-root-key does.
  b7.WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(sim.rootKey, 'hex');
  const v7 = await connect(b7, sim.wsUrl);
  b7.WA_CERT_DETAILS.PUBLIC_KEY = productionRoot;
  r.check(`baileys@7.0.0-rc14 (dict v3) gets a QR from wasim within ${QR_DEADLINE_MS} ms`, v7.kind === 'qr',
    `got ${v7.kind}${v7.error ? `: ${v7.error}` : ''} after ${v7.ms} ms`);
  if (v7.kind === 'qr') {
    r.note(`baileys@7: QR after ${v7.ms} ms`);
    const why = qrMatchesCreds(v7.qr, v7.creds, true);
    r.check('baileys@7 QR carries its own keys', !why, why || '');
  }

  const v6 = await connect(b6, sim.wsUrl);
  r.check(`baileys@6.17.16 (dict v2) gets a QR from wasim within ${QR_DEADLINE_MS} ms`, v6.kind === 'qr',
    `got ${v6.kind}${v6.error ? `: ${v6.error}` : ''} after ${v6.ms} ms`);
  if (v6.kind === 'qr') {
    r.note(`baileys@6: QR after ${v6.ms} ms`);
    const why = qrMatchesCreds(v6.qr, v6.creds, false);
    r.check('baileys@6 QR carries its own keys', !why, why || '');
  }
} finally {
  await sim.stop();
}
if (r.failed) r.note(`wasim log tail:\n${sim.log.slice(-15).join('\n')}`);
r.finish();
// Baileys leaves timers behind after end(); the verdict is in, so leave now.
process.exit(process.exitCode ?? 0);
