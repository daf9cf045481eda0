// Live cross-check of our Signal layer against Baileys' libsignal (Baileys 6.17.16 and 7.0.0-rc14,
// both on libsignal-node 2.0.1): the e2e reference §9 check, rerun with fresh keys on every run. wa_signal_probe is one of our
// devices (in-memory stores); Baileys is Alice (and Carol). Every message goes through WhatsApp's
// padding and the Message protobuf, and each side must read exactly what the other wrote:
// pkmsg then msg both ways, unicode and a 60,000-character text, out-of-order delivery, a group
// sender key in both directions, and our side as the initiator of a session from a Baileys bundle.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import { binary } from '../interop/lib/ours_cli.mjs';
import { Report, failOnUncaught } from '../interop/lib/report.mjs';
import { silentLogger } from '../interop/lib/baileys_state.mjs';

failOnUncaught('signal_baileys_xcheck');
const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, '../interop/package.json'));
const modules = path.join(here, '../interop/node_modules');
const esm = (rel) => import(pathToFileURL(path.join(modules, rel)).href);

// Baileys 6 is CommonJS, Baileys 7 is ESM; the repository API is the same.
async function loadBaileys(label) {
  if (label === 'Baileys 6') {
    return { makeLibSignalRepository: require('baileys6/lib/Signal/libsignal').makeLibSignalRepository,
      U: require('baileys6/lib/Utils'), proto: require('baileys6/WAProto').proto };
  }
  return { makeLibSignalRepository: (await esm('baileys/lib/Signal/libsignal.js')).makeLibSignalRepository,
    U: await esm('baileys/lib/Utils/index.js'), proto: (await esm('baileys/WAProto/index.js')).proto };
}

// --- the probe (a fresh device per Baileys version): one request line, one answer line ---
function startProbe() {
  const child = spawn(binary('wa_signal_probe'), [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l)));
  const probe = (req) => new Promise((resolve) => { waiting.push(resolve); child.stdin.write(JSON.stringify(req) + '\n'); });
  return { probe, stop: () => child.stdin.end() };
}

function memKeys() {
  const data = {};
  return {
    data,
    async get(type, ids) { const o = {}; for (const id of ids) { const v = data[`${type}/${id}`]; if (v !== undefined) o[id] = v; } return o; },
    async set(obj) { for (const t in obj) for (const id in obj[t]) { const v = obj[t][id]; if (v === null) delete data[`${t}/${id}`]; else data[`${t}/${id}`] = v; } },
    async transaction(work) { return work(); },  // Baileys 7 wraps store access in transactions
    isInTransaction() { return false; },
  };
}
const hex = (b) => Buffer.from(b).toString('hex');
const H = (h) => Buffer.from(h, 'hex');

const r = new Report('signal_baileys_xcheck');
for (const label of ['Baileys 6', 'Baileys 7']) {
  const { makeLibSignalRepository, U, proto } = await loadBaileys(label);
  const be = (n, w) => Buffer.from(U.encodeBigEndian(n, w));
  const encode = (text) => Buffer.from(U.encodeWAMessage(proto.Message.fromObject({ conversation: text })));
  const readText = (plain) => proto.Message.decode(U.unpadRandomMax16(plain)).conversation;
  const { probe, stop } = startProbe();
  const check = (name, ok, details) => r.check(`${label}: ${name}`, ok, details);
  try {
    const OUR_JID = '15550001111:3@s.whatsapp.net';        // Baileys addresses us as 15550001111.3
    const ALICE = { name: '15550002222', device: 0 };        // we address Alice as 15550002222:0
    const ALICE_JID = '15550002222:0@s.whatsapp.net';

    const ours = await probe({ cmd: 'init' });
    check('probe starts and hands out its bundle', ours.ok, JSON.stringify(ours));

    // Alice = Baileys with an in-memory auth state; our bundle reaches her as the server's answer.
    const creds = U.initAuthCreds();
    const keys = memKeys();
    const alice = makeLibSignalRepository({ creds, keys }, silentLogger);
    await U.parseAndInjectE2ESessions({ tag: 'iq', attrs: { type: 'result' }, content: [{ tag: 'list', attrs: {}, content: [{
      tag: 'user', attrs: { jid: OUR_JID }, content: [
        { tag: 'registration', attrs: {}, content: be(ours.registration, 4) },
        { tag: 'type', attrs: {}, content: Buffer.from([5]) },
        { tag: 'identity', attrs: {}, content: H(ours.identity) },
        { tag: 'skey', attrs: {}, content: [
          { tag: 'id', attrs: {}, content: be(ours.spk_id, 3) },
          { tag: 'value', attrs: {}, content: H(ours.spk) },
          { tag: 'signature', attrs: {}, content: H(ours.spk_sig) }] },
        { tag: 'key', attrs: {}, content: [
          { tag: 'id', attrs: {}, content: be(ours.pk_id, 3) },
          { tag: 'value', attrs: {}, content: H(ours.pk) }] }] }] }] }, alice);

    const toUs = async (text) => alice.encryptMessage({ jid: OUR_JID, data: encode(text) });
    const weRead = async (m) => probe({ cmd: 'decrypt', ...ALICE, type: m.type, hex: hex(m.ciphertext) });
    const toAlice = async (text) => probe({ cmd: 'encrypt', ...ALICE, text });
    const aliceReads = async (m) => readText(await alice.decryptMessage({ jid: OUR_JID, type: m.type, ciphertext: H(m.hex) }));

    // 1. Baileys opens with pkmsg; we decrypt.
    const first = await toUs('hello from Baileys');
    check('Baileys\' first message is a pkmsg', first.type === 'pkmsg', first.type);
    const got1 = await weRead(first);
    check('we decrypt Baileys\' pkmsg', got1.ok && got1.text === 'hello from Baileys', JSON.stringify(got1));

    // 2. Our reply is a msg on that session; Baileys decrypts.
    const reply = await toAlice('hi from waconnector');
    check('our reply is a msg', reply.ok && reply.type === 'msg', JSON.stringify(reply).slice(0, 200));
    check('Baileys decrypts our msg', (await aliceReads(reply)) === 'hi from waconnector');

    // 3. Now Baileys sends msg; unicode and a 60,000-character text both ways.
    const uni = 'héllo 👋 مرحبا 你好 \u{1F600}';
    const big = 'x'.repeat(30000) + 'ü'.repeat(30000);
    for (const text of [uni, big]) {
      const m = await toUs(text);
      const got = await weRead(m);
      check(`Baileys → us, ${text.length} chars (${m.type})`, m.type === 'msg' && got.ok && got.text === text,
        `${m.type} ${got.ok ? got.text.length : got.error}`);
      const back = await toAlice(text);
      check(`us → Baileys, ${text.length} chars (${back.type})`, back.ok && (await aliceReads(back)) === text);
    }

    // 4. Out of order: Baileys sends three, we read 3, 1, 2; a replay is refused.
    const batch = [];
    for (const t of ['one', 'two', 'three']) batch.push(await toUs(t));
    const order = [2, 0, 1].map((i) => batch[i]);
    const texts = [];
    for (const m of order) texts.push((await weRead(m)).text);
    check('out-of-order delivery decrypts each message once', texts.join(',') === 'three,one,two', texts.join(','));
    const replay = await weRead(batch[0]);
    check('a replayed msg is refused as a duplicate', !replay.ok && /duplicate/.test(replay.error), JSON.stringify(replay));
    // Ours out of order at Baileys.
    const ob = [];
    for (const t of ['a', 'b', 'c']) ob.push(await toAlice(t));
    const bt = [];
    for (const i of [1, 2, 0]) bt.push(await aliceReads(ob[i]));
    check('Baileys reads our out-of-order msgs', bt.join('') === 'bca', bt.join(''));

    // 5. Group: Baileys' sender key to us, then ours to Baileys.
    const GROUP = '120363000000000009@g.us';
    const g = await alice.encryptGroupMessage({ group: GROUP, meId: ALICE_JID, data: encode('hello group') });
    const sk = await probe({ cmd: 'skdm', group: GROUP, ...ALICE, hex: hex(g.senderKeyDistributionMessage) });
    check('we process Baileys\' SKDM', sk.ok, JSON.stringify(sk));
    const gd = await probe({ cmd: 'group_decrypt', group: GROUP, ...ALICE, hex: hex(g.ciphertext) });
    check('we decrypt Baileys\' skmsg', gd.ok && gd.text === 'hello group', JSON.stringify(gd));
    const ge = await probe({ cmd: 'group_encrypt', group: GROUP, name: '15550001111', device: 3, text: 'group hello from us' });
    check('we produce an SKDM and skmsg', ge.ok, JSON.stringify(ge).slice(0, 200));
    await alice.processSenderKeyDistributionMessage({
      item: { groupId: GROUP, axolotlSenderKeyDistributionMessage: H(ge.skdm_hex) }, authorJid: OUR_JID });
    const gt = readText(await alice.decryptGroupMessage({ group: GROUP, authorJid: OUR_JID, msg: H(ge.skmsg_hex) }));
    check('Baileys decrypts our skmsg', gt === 'group hello from us', gt);

    // 6. We start a session from a Baileys-format bundle (Carol), our pkmsg opens at Baileys.
    const carolCreds = U.initAuthCreds();
    const carolPk = U.Curve.generateKeyPair();
    const carolKeys = memKeys();
    await carolKeys.set({ 'pre-key': { 7: carolPk } });
    const carol = makeLibSignalRepository({ creds: carolCreds, keys: carolKeys }, silentLogger);
    const CAROL = { name: '15550003333', device: 0 };
    const b = await probe({ cmd: 'bundle', ...CAROL, registration: carolCreds.registrationId,
      identity: hex(carolCreds.signedIdentityKey.public), spk_id: carolCreds.signedPreKey.keyId,
      spk: hex(carolCreds.signedPreKey.keyPair.public), spk_sig: hex(carolCreds.signedPreKey.signature),
      pk_id: 7, pk: hex(carolPk.public) });
    check('we build a session from Baileys\' bundle', b.ok, JSON.stringify(b));
    const toCarol = await probe({ cmd: 'encrypt', ...CAROL, text: 'hello Carol' });
    check('our first message to Carol is a pkmsg', toCarol.type === 'pkmsg', toCarol.type);
    const ct = readText(await carol.decryptMessage({ jid: OUR_JID, type: 'pkmsg', ciphertext: H(toCarol.hex) }));
    check('Baileys (Carol) decrypts our pkmsg', ct === 'hello Carol', ct);
    check('Carol\'s one-time pre-key was used up', carolKeys.data['pre-key/7'] === undefined);
    const fromCarol = await carol.encryptMessage({ jid: OUR_JID, data: encode('hi back') });
    const fc = await probe({ cmd: 'decrypt', ...CAROL, type: fromCarol.type, hex: hex(fromCarol.ciphertext) });
    check('Carol answers with a msg that we decrypt', fromCarol.type === 'msg' && fc.ok && fc.text === 'hi back',
      `${fromCarol.type} ${JSON.stringify(fc)}`);
  } finally {
    stop();
  }
}
r.finish();
