// Baileys 7 and Baileys 6 exchange end-to-end encrypted text with wasim's virtual phones, which
// encrypt and decrypt with our core/signal (libsignal-protocol-c) — so each side judges the other:
//   1:1, both directions, each account: Baileys starts (pkmsg), the phone answers on that session
//   (msg), Baileys again (msg); a second phone starts (pkmsg from the phone) and Baileys answers
//   (msg); unicode and a 60,000-character text both ways; the phone's delivery receipt reaches
//   Baileys, and so does its read receipt when asked for; Baileys' receipts reach the phone.
//   Baileys 7 is served LID-addressed (as WhatsApp today), Baileys 6 phone numbers only.
//   Groups: one wasim group of both Baileys accounts and a virtual phone; each of the three
//   sends, the other two decrypt (SKDM pairwise, then skmsg).
// Every check also asserts that no side failed to decrypt anything and that Baileys logged no
// decryption error.
import { startWasim } from './lib/wasim.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';
import { admin, baileysLabel, openPeer } from './lib/peer.mjs';

failOnUncaught('messaging');

const STEP_MS = 20000;
const BIG = 'ab€😀'.repeat(15000);  // 60,000 characters (JS length 75,000: the emoji are surrogate pairs)
const bigChars = [...BIG].length;

const digits = (p) => p.replace(/\D/g, '');
const pn = (p) => `${digits(p)}@s.whatsapp.net`;
const short = (s) => (s === null || s === undefined ? String(s) : s.length > 60 ? `${s.slice(0, 40)}… (${[...s].length} chars)` : s);

async function phoneInbox(sim, phone) {
  const r = await admin(sim.adminUrl, 'GET', `/phones/${phone}/messages`);
  if (r.status !== 200) throw new Error(`GET messages of ${phone}: ${r.status} ${r.text}`);
  return r.json;
}

// Polls the phone's inbox (or receipts) until `pred` matches one entry.
async function waitPhone(sim, phone, what, pred, ms = STEP_MS) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const inbox = await phoneInbox(sim, phone);
    const hit = inbox[what].find(pred);
    if (hit) return hit;
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

async function phoneSend(sim, phone, to, text) {
  const r = await admin(sim.adminUrl, 'POST', `/phones/${phone}/messages`, { to, text });
  if (r.status !== 200) throw new Error(`phone ${phone} send: ${r.status} ${r.text}`);
  return r.json;
}

async function oneToOne(r, sim, peer, pv, pv2) {
  const L = baileysLabel(peer.version);
  const mode = peer.version === '7' ? 'lid' : 'pn';
  r.note(`${L}: logged in as ${peer.me} (lid ${peer.lid}), served ${mode}-addressed`);

  // Baileys starts: a pkmsg to the phone's number.
  const id1 = await peer.send(pn(pv), 'hello from Baileys');
  const got1 = await waitPhone(sim, pv, 'messages', (m) => m.id === id1);
  r.check(`${L} -> phone: first message decrypted by the phone (pkmsg)`,
    got1 && got1.error === null && got1.text === 'hello from Baileys' && got1.enc === 'pkmsg', JSON.stringify(got1));
  const dr1 = await peer.waitReceipt((x) => x.id === id1 && x.status >= 3);
  r.check(`${L}: gets the phone's delivery receipt`, Boolean(dr1), JSON.stringify(peer.receipts.slice(-5)));

  // The phone answers on that session: a msg, with unicode.
  const uni = 'Grüße, мир, 世界, مرحبا, 👋🏽 — ok';
  const s2 = await phoneSend(sim, pv, peer.phone, uni);
  r.check(`phone -> ${L}: answer goes as msg on Baileys' session`, s2.msg >= 1, JSON.stringify(s2));
  const got2 = await peer.waitFor((m) => m.id === s2.id);
  r.check(`phone -> ${L}: unicode text decrypted by Baileys`, got2 && got2.error === null && got2.text === uni,
    JSON.stringify(got2));
  if (got2) {
    const wantChat = mode === 'lid' ? /@lid$/ : /@s\.whatsapp\.net$/;
    r.check(`${L}: the phone's message names the chat in ${mode} form`, wantChat.test(got2.chat),
      `chat ${got2.chat} alt ${got2.chat_alt}`);
  }
  const pr2 = await waitPhone(sim, pv, 'receipts', (x) => x.id === s2.id && x.type !== 'retry');
  r.check(`${L}: its receipt for the phone's message reaches the phone`, Boolean(pr2), JSON.stringify(pr2));

  // Baileys again, to the chat as it knows it (its LID for Baileys 7): msg, unicode.
  const chat = got2?.chat || pn(pv);
  const id3 = await peer.send(chat, `re: ${uni}`);
  const got3 = await waitPhone(sim, pv, 'messages', (m) => m.id === id3);
  // (Baileys 7 keys sessions by LID once it knows the mapping and does not carry over the
  // session it made for the number, so this one may open a new session: pkmsg.)
  r.check(`${L} -> phone: reply to ${chat.endsWith('@lid') ? 'the LID chat' : 'the number'} decrypted`,
    got3 && got3.error === null && got3.text === `re: ${uni}`, JSON.stringify(got3));
  r.note(`${L} -> phone: the reply went as ${got3?.enc}`);

  // 60,000 characters both ways.
  const s4 = await phoneSend(sim, pv, peer.phone, BIG);
  const got4 = await peer.waitFor((m) => m.id === s4.id);
  r.check(`phone -> ${L}: ${bigChars}-character text decrypted`, got4 && got4.error === null && got4.text === BIG,
    got4 ? `${got4.error} ${short(got4.text)}` : 'nothing arrived');
  const id5 = await peer.send(chat, BIG);
  const got5 = await waitPhone(sim, pv, 'messages', (m) => m.id === id5);
  r.check(`${L} -> phone: ${bigChars}-character text decrypted, as msg`, got5 && got5.error === null &&
    got5.text === BIG && got5.enc === 'msg', got5 ? `${got5.enc} ${got5.error} ${short(got5.text)}` : 'nothing arrived');

  // A phone that starts the chat: pkmsg from the phone, Baileys answers with msg.
  const s6 = await phoneSend(sim, pv2, peer.phone, 'first from the other phone');
  r.check(`phone2 -> ${L}: first message is a pkmsg`, s6.pkmsg >= 1, JSON.stringify(s6));
  const got6 = await peer.waitFor((m) => m.id === s6.id);
  r.check(`phone2 -> ${L}: pkmsg decrypted by Baileys`, got6 && got6.error === null &&
    got6.text === 'first from the other phone', JSON.stringify(got6));
  const id7 = await peer.send(got6?.chat || pn(pv2), 'answer on your session');
  const got7 = await waitPhone(sim, pv2, 'messages', (m) => m.id === id7);
  r.check(`${L} -> phone2: answer decrypted`, got7 && got7.error === null &&
    got7.text === 'answer on your session', JSON.stringify(got7));
  r.note(`${L} -> phone2: the answer went as ${got7?.enc}`);
  const s8 = await phoneSend(sim, pv2, peer.phone, 'and again');
  r.check(`phone2 -> ${L}: next message goes as msg (to Baileys' device)`, s8.msg >= 1, JSON.stringify(s8));
  const got8 = await peer.waitFor((m) => m.id === s8.id);
  r.check(`phone2 -> ${L}: msg decrypted by Baileys`, got8 && got8.error === null && got8.text === 'and again', JSON.stringify(got8));
  const id9 = await peer.send(got6?.chat || pn(pv2), 'and again back');
  const got9 = await waitPhone(sim, pv2, 'messages', (m) => m.id === id9);
  r.check(`${L} -> phone2: next answer decrypted, as msg`, got9 && got9.error === null &&
    got9.text === 'and again back' && got9.enc === 'msg', JSON.stringify(got9));

  // Read receipt on request.
  const read = await admin(sim.adminUrl, 'POST', `/phones/${pv}/read`, { ids: [id3] });
  r.check(`phone marks ${L}'s message read`, read.status === 200 && read.json?.read?.includes(id3), read.text);
  const rr = await peer.waitReceipt((x) => x.id === id3 && x.status === 4);
  r.check(`${L}: gets the read receipt`, Boolean(rr), JSON.stringify(peer.receipts.filter((x) => x.id === id3)));
}

async function group(r, sim, peers, pv) {
  const created = await admin(sim.adminUrl, 'POST', '/groups', {
    subject: 'interop group', participants: [...peers.map((p) => p.phone), pv],
  });
  if (!r.check('wasim creates the group', created.status === 201, created.text)) return;
  const gjid = created.json.jid;
  r.note(`group ${gjid} of ${peers.map((p) => baileysLabel(p.version)).join(', ')} and a virtual phone`);

  for (const sender of peers) {
    const L = baileysLabel(sender.version);
    const text = `group hello from ${L} ✓`;
    const id = await sender.send(gjid, text);
    for (const other of peers.filter((p) => p !== sender)) {
      const got = await other.waitFor((m) => m.id === id);
      r.check(`group: ${L} -> ${baileysLabel(other.version)} decrypted`, got && got.error === null && got.text === text &&
        got.chat === gjid, JSON.stringify(got));
    }
    const pg = await waitPhone(sim, pv, 'messages', (m) => m.id === id && m.text !== null);
    r.check(`group: ${L} -> phone decrypted (skmsg)`, pg && pg.error === null && pg.text === text &&
      pg.enc.includes('skmsg'), JSON.stringify(pg));
  }
  const s = await phoneSend(sim, pv, gjid, 'group hello from the phone');
  for (const p of peers) {
    const got = await p.waitFor((m) => m.id === s.id);
    r.check(`group: phone -> ${baileysLabel(p.version)} decrypted`, got && got.error === null &&
      got.text === 'group hello from the phone', JSON.stringify(got));
  }
}

const r = new Report('messaging');
const sim = await startWasim();
const peers = [];
try {
  r.note(`wasim at ${sim.wsUrl}`);
  const pv = '+15550009001';
  const pv2 = '+15550009002';
  for (const p of [pv, pv2]) await admin(sim.adminUrl, 'POST', '/phones', { phone: p });
  // WACONN_INTEROP_BAILEYS=6 or 7 runs one version only (when debugging; ctest runs both).
  const only = process.env.WACONN_INTEROP_BAILEYS;
  for (const [version, phone] of [['7', '+15550007101'], ['6', '+15550006101']]) {
    if (only && only !== version) continue;
    const peer = await openPeer({ version, wsUrl: sim.wsUrl, adminUrl: sim.adminUrl, phone, stepMs: STEP_MS,
      echoLog: process.env.WACONN_PEER_LOG });
    peers.push(peer);
    await oneToOne(r, sim, peer, pv, pv2);
  }
  await group(r, sim, peers, pv);

  for (const p of peers) {
    const L = baileysLabel(p.version);
    const bad = p.received.filter((m) => m.error);
    r.check(`${L}: decrypted every message it received (${p.received.length})`, bad.length === 0, JSON.stringify(bad));
    const logged = p.decryptFailures();
    r.check(`${L}: logged no decryption failure`, logged.length === 0, JSON.stringify(logged.slice(0, 5)));
  }
  for (const ph of [pv, pv2, ...peers.map((p) => p.phone)]) {
    const inbox = await phoneInbox(sim, ph);
    const bad = inbox.messages.filter((m) => m.error);
    r.check(`phone ${ph}: decrypted every message it received (${inbox.messages.length})`, bad.length === 0,
      JSON.stringify(bad));
  }
} finally {
  for (const p of peers) await p.end();
  await sim.stop();
}
if (r.failed) r.note(`wasim log tail:\n${sim.log.slice(-30).join('\n')}`);
r.finish();
process.exit(process.exitCode ?? 0);
