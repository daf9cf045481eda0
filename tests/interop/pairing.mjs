// Baileys 7 and Baileys 6 pair with wasim as with WhatsApp, and log in again from their saved
// credentials:
//   1. a virtual phone is created (POST /admin/phones);
//   2. Baileys connects with fresh in-memory credentials and shows a QR; the test hands that
//      very string to wasim (POST /admin/phones/{phone}/link), as a phone scanning it would;
//   3. wasim sends pair-success, Baileys verifies it (HMAC with its adv secret, the account
//      signature) and answers pair-device-sign, wasim ends the stream with 515, and Baileys,
//      reconnected with the same credentials as its docs prescribe, logs in: connection 'open';
//   4. the socket is closed and a new one made from the carried-over credentials and keys (a
//      restart): it logs in again ('open') without showing a QR;
//   5. wasim's connection list for the device shows both logins, one after the other.
// Also: /link refuses (4xx) a QR with another noise key, a made-up ref, a malformed string.
// Both Baileys versions connect to wasim directly (see handshake.mjs on wasim's first-stanza delay).
import { createRequire } from 'node:module';
import * as b7 from 'baileys';
import { startWasim } from './lib/wasim.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';
import { memoryKeys, silentLogger as silent } from './lib/baileys_state.mjs';

failOnUncaught('pairing');
const require = createRequire(import.meta.url);
const b6 = require('baileys6');

const STEP_MS = 15000;

async function admin(sim, method, path, body) {
  const res = await fetch(`${sim.adminUrl}${path}`, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, text, json };
}

// One Baileys socket on `auth`; events are queued so the test can await them in order.
function openSocket(lib, wsUrl, auth) {
  const sock = lib.makeWASocket({
    waWebSocketUrl: wsUrl,
    logger: silent,
    printQRInTerminal: false,
    auth,
    connectTimeoutMs: STEP_MS,
    // Nothing to sync with a simulator; keeps Baileys from waiting on app-state queries.
    syncFullHistory: false,
    markOnlineOnConnect: false,
    fireInitQueries: false,
  });
  const events = [];
  const waiters = [];
  const push = (e) => { events.push(e); waiters.splice(0).forEach((w) => w()); };
  sock.ev.on('creds.update', (u) => Object.assign(auth.creds, u));
  sock.ev.on('connection.update', (u) => {
    if (u.qr) push({ kind: 'qr', qr: u.qr });
    if (u.connection === 'open') push({ kind: 'open' });
    if (u.connection === 'close') {
      const e = u.lastDisconnect?.error;
      push({ kind: 'close', status: e?.output?.statusCode, error: e?.message || String(e) });
    }
  });
  // Resolves with the first queued event matching one of `kinds` (others are skipped), or a
  // timeout event.
  const next = (kinds, ms = STEP_MS) => new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'timeout' }), ms);
    const look = () => {
      while (events.length) {
        const e = events.shift();
        if (kinds.includes(e.kind)) { clearTimeout(timer); resolve(e); return; }
      }
      waiters.push(look);
    };
    look();
  });
  const end = () => { try { sock.end(undefined); } catch { /* closed */ } };
  return { sock, next, end };
}

const describe = (e) => `${e.kind}${e.status ? ` ${e.status}` : ''}${e.error ? `: ${e.error}` : ''}`;

async function pairAndRelogin(r, sim, label, lib, wsUrl, phone, withPrefix) {
  const created = await admin(sim, 'POST', '/phones', { phone });
  if (!r.check(`${label}: wasim creates phone ${phone}`, created.status >= 200 && created.status < 300,
    `${created.status} ${created.text}`)) return;

  const auth = { creds: lib.initAuthCreds(), keys: memoryKeys() };
  const t0 = Date.now();
  let s = openSocket(lib, wsUrl, auth);
  try {
    const qr = await s.next(['qr', 'close']);
    if (!r.check(`${label}: shows a QR`, qr.kind === 'qr', describe(qr))) return;
    r.check(`${label}: QR form (${withPrefix ? 'wa.me link' : 'bare'})`,
      qr.qr.startsWith('https://wa.me/settings/linked_devices#') === withPrefix, qr.qr.slice(0, 40));

    // QRs that are not this waiting connection's are refused: another noise key (wasim knows the
    // connection's static key from the handshake), a made-up ref, a malformed string. (The adv
    // secret cannot be checked by the server; a wrong one would only fail Baileys' HMAC check.)
    const parts = qr.qr.split(',');
    const linkPath = `/phones/${phone}/link`;
    const badNoise = [...parts];
    badNoise[1] = Buffer.alloc(32, 7).toString('base64');
    const refused1 = await admin(sim, 'POST', linkPath, { qr: badNoise.join(',') });
    r.check(`${label}: /link refuses the ref with another noise key`, refused1.status >= 400 && refused1.status < 500,
      `${refused1.status} ${refused1.text}`);
    const badRef = [...parts];
    badRef[0] = (withPrefix ? 'https://wa.me/settings/linked_devices#' : '') + '2@madeUpRef';
    const refused2 = await admin(sim, 'POST', linkPath, { qr: badRef.join(',') });
    r.check(`${label}: /link refuses an unknown ref`, refused2.status >= 400 && refused2.status < 500,
      `${refused2.status} ${refused2.text}`);
    const refused3 = await admin(sim, 'POST', linkPath, { qr: parts.slice(0, 2).join(',') });
    r.check(`${label}: /link refuses a malformed QR`, refused3.status >= 400 && refused3.status < 500,
      `${refused3.status} ${refused3.text}`);

    r.note(`${label}: /link refusals ${refused1.status}, ${refused2.status}, ${refused3.status} ` +
      `(${(refused1.json?.error || refused1.text).slice(0, 80)})`);

    // The phone "scans" Baileys' own QR string.
    const linked = await admin(sim, 'POST', linkPath, { qr: qr.qr });
    if (!r.check(`${label}: /link accepts Baileys' QR`, linked.status >= 200 && linked.status < 300,
      `${linked.status} ${linked.text}`)) return;

    // Pairing ends the first socket with 515 (restart required); Baileys' apps reconnect.
    const restart = await s.next(['close', 'open']);
    r.check(`${label}: pair-success accepted, stream restarted with 515`,
      restart.kind === 'close' && restart.status === 515, describe(restart));
    const me = auth.creds.me?.id || '';
    const user = phone.replace(/\D/g, '');
    r.check(`${label}: Baileys stored its device jid on the phone's number`,
      new RegExp(`^${user}:\\d+@s\\.whatsapp\\.net$`).test(me), `creds.me.id = '${me}'`);
    r.check(`${label}: Baileys marked its credentials registered/paired`,
      Boolean(auth.creds.account?.accountSignature?.length === 64 && auth.creds.account?.deviceSignature?.length === 64),
      'creds.account signatures missing');
    s.end();

    s = openSocket(lib, wsUrl, auth);
    const open1 = await s.next(['open', 'close', 'qr']);
    if (!r.check(`${label}: logs in after pairing (connection 'open')`, open1.kind === 'open', describe(open1))) return;
    r.note(`${label}: QR -> open in ${Date.now() - t0} ms (device ${me.replace(/^(\d{4})\d+/, '$1***')})`);
    s.end();
    await s.next(['close'], 5000);

    // A restart: a new socket from the carried-over credentials, no QR.
    s = openSocket(lib, wsUrl, auth);
    const open2 = await s.next(['open', 'close', 'qr']);
    r.check(`${label}: logs in again from saved credentials after a restart`, open2.kind === 'open', describe(open2));
    s.end();
    await s.next(['close'], 5000);

    const conns = await admin(sim, 'GET', `/devices/${me}/connections`);
    const list = Array.isArray(conns.json) ? conns.json : (conns.json?.connections || []);
    const logins = list.filter((c) => c.logged_in_ms);
    r.check(`${label}: wasim lists the device's two logins`, conns.status === 200 && logins.length >= 2,
      `${conns.status} ${conns.text.slice(0, 300)}`);
    let overlap = 0;
    const sorted = [...logins].sort((a, b) => a.logged_in_ms - b.logged_in_ms);
    for (let i = 1; i < sorted.length; i++) {
      const prevEnd = sorted[i - 1].closed_ms ?? Infinity;
      overlap += Math.max(0, prevEnd - sorted[i].logged_in_ms);
    }
    r.check(`${label}: the logins did not overlap`, overlap === 0, `overlap ${overlap} ms`);
    r.note(`${label}: wasim lists ${list.length} connection(s) of the device, ${logins.length} logged in, ` +
      `overlap ${overlap} ms`);
  } finally {
    s.end();
  }
}

const r = new Report('pairing');
const sim = await startWasim();
try {
  r.note(`wasim at ${sim.wsUrl}`);
  await pairAndRelogin(r, sim, 'baileys@7.0.0-rc14', b7, sim.wsUrl, '+15550007001', true);

  await pairAndRelogin(r, sim, 'baileys@6.17.16', b6, sim.wsUrl, '+15550006001', false);
} finally {
  await sim.stop();
}
if (r.failed) r.note(`wasim log tail:\n${sim.log.slice(-25).join('\n')}`);
r.finish();
process.exit(process.exitCode ?? 0);
