// Baileys 7 and Baileys 6, each logged in to wasim as its own account, exchange text with a
// waconnector account (one `waconnector run` replica on a fresh database of the cluster named by
// WACONN_TEST_DATABASE_URL): both directions, unicode and a 60,000-character text; then a wasim
// group of the connector and both Baileys accounts. The receive side is read with
// `waconnector messages list --json`, the send side queued with `waconnector messages send` and
// read from the Baileys peer; `messages status` must reach delivered.
import { execFileSync } from 'node:child_process';
import { startWasim } from './lib/wasim.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';
import { admin, baileysLabel, openPeer } from './lib/peer.mjs';
import { freshDatabase, Pods } from './lib/pods.mjs';
import { until as untilMs } from './lib/wait.mjs';

failOnUncaught('connector');
const STEP_MS = 30000;
const BIG = 'ab€😀'.repeat(15000);  // 60,000 characters
const ACCOUNT = 'interop';

if (!process.env.WACONN_TEST_DATABASE_URL) {
  console.log('connector: WACONN_TEST_DATABASE_URL is not set (start a cluster with scripts/pg-cluster.sh)');
  process.exit(1);
}
const until = (fn, ms = STEP_MS, every = 200) => untilMs(fn, ms, every);

const r = new Report('connector');
const db = freshDatabase('waconn_interop', ACCOUNT);
const { exe } = db;
const sim = await startWasim();
const pods = new Pods(db, sim);
const podLog = () => pods.logs.map((x) => x.line);
const peers = [];
try {
  pods.start('pod-0');

  // Pair the connector with its phone through the QR it publishes.
  const phone = '+15550005301';
  await pods.pair(phone, STEP_MS);
  const up = await until(() => podLog().some((l) => l.includes('wa_client_prekeys_uploaded')));
  if (!r.check('connector logged in and uploaded its pre-keys', Boolean(up), podLog().slice(-10).join('\n'))) throw new Error('no login');
  const connJid = `${phone.slice(1)}@s.whatsapp.net`;

  const inbox = () => db.cli(['messages', 'list', '--business-id', ACCOUNT, '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  // The text goes on stdin: a 60,000-character non-ASCII text is longer than one argument may be.
  const send = (to, text) => JSON.parse(execFileSync(exe, ['messages', 'send', '--database-url', db.url,
    '--business-id', ACCOUNT, '--to', to, '--text-file', '-'], { input: text, encoding: 'utf8' }));
  const status = (id) => JSON.parse(db.cli(['messages', 'status', '--business-id', ACCOUNT, '--id', id]));

  for (const [version, p] of [['7', '+15550007301'], ['6', '+15550006301']]) {
    const L = baileysLabel(version);
    const peer = await openPeer({ version, wsUrl: sim.wsUrl, adminUrl: sim.adminUrl, phone: p, stepMs: STEP_MS });
    peers.push(peer);
    const peerJid = `${p.slice(1)}@s.whatsapp.net`;
    for (const [i, text] of [`hello connector from ${L}`, 'ünïcödé ✓ мир 世界 👋🏽', BIG].entries()) {
      const id = await peer.send(connJid, text);
      const row = await until(() => inbox().find((m) => m.id === id));
      r.check(`${L} -> connector: message ${i + 1} (${[...text].length} chars) in the inbox`, row && row.text === text,
        row ? `${String(row.text).slice(0, 40)}` : 'not in the inbox');
    }
    for (const [i, text] of [`hello ${L} from the connector`, 'ünïcödé back ✓ 👋🏽', BIG].entries()) {
      const q = send(peerJid, text);
      const got = await peer.waitFor((m) => m.id === q.id, STEP_MS);
      r.check(`connector -> ${L}: message ${i + 1} (${[...text].length} chars) decrypted by Baileys`,
        got && got.error === null && got.text === text, got ? `${got.error} ${String(got.text).slice(0, 40)}` : 'nothing arrived');
      const st = await until(() => { const s = status(q.id); return ['delivered', 'read'].includes(s.status) ? s : null; });
      r.check(`connector -> ${L}: message ${i + 1} reaches delivered`, Boolean(st), JSON.stringify(status(q.id)));
    }
  }

  if (peers.length === 2) {
    const g = await admin(sim.adminUrl, 'POST', '/groups', { subject: 'connector group', participants: [phone, ...peers.map((p) => p.phone)] });
    if (r.check('wasim creates the group', g.status === 201, g.text)) {
      const gjid = g.json.jid;
      for (const peer of peers) {
        const text = `group hello from ${baileysLabel(peer.version)}`;
        const id = await peer.send(gjid, text);
        const row = await until(() => inbox().find((m) => m.id === id));
        r.check(`group: ${baileysLabel(peer.version)} -> connector`, row && row.text === text && row.chat === gjid, JSON.stringify(row));
      }
      const q = send(gjid, 'group hello from the connector');
      for (const peer of peers) {
        const got = await peer.waitFor((m) => m.id === q.id, STEP_MS);
        r.check(`group: connector -> ${baileysLabel(peer.version)}`, got && got.error === null &&
          got.text === 'group hello from the connector', JSON.stringify(got));
      }
    }
  }
  for (const p of peers) {
    const bad = p.received.filter((m) => m.error);
    r.check(`${baileysLabel(p.version)}: decrypted everything it received`, bad.length === 0, JSON.stringify(bad.slice(0, 3)));
  }
  const failures = podLog().filter((l) => /"outcome":"failed"|decrypt_failed|retry_receipt/.test(l));
  r.check('connector logged no decryption failure', failures.length === 0, failures.slice(0, 3).join('\n'));
} finally {
  for (const p of peers) await p.end();
  await pods.close();
}
if (r.failed) r.note(`connector log (messages):\n${podLog().filter((l) => /wa_message|retry|wa_send|group/.test(l)).slice(-40).join('\n')}\nwasim log tail:\n${sim.log.slice(-20).join('\n')}`);
r.finish();
process.exit(process.exitCode ?? 0);
