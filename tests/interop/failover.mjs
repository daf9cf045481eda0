// Failover under traffic with a Baileys peer (issue 8's proof): wasim, a fresh database, three
// `waconnector run` replicas of one paired account, and a Baileys 7 account on wasim. While the
// peer sends the account a text every 100 ms and `waconnector messages send` queues one to the peer
// every 100 ms, the test SIGKILLs the leader, then (once a standby logged in) SIGTERMs the new
// leader, then terminates the next leader's lock session (pg_terminate_backend on its
// 'waconnector/<pod>/lock' connection). A stopped pod is started again, so three replicas stay.
// At the end: every message arrived exactly once on each side, every outbound row is delivered,
// nobody logged a decryption failure, and wasim's connection log never had two logins open at once.
import { spawn, execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import readline from 'node:readline';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startWasim } from './lib/wasim.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';
import { admin, openPeer } from './lib/peer.mjs';
import { binary } from './lib/ours_cli.mjs';
import { sleep, until } from './lib/wait.mjs';
// The throwaway cluster's superuser owns the tables, so row-level security cannot bind it: the
// pods this script starts run with the bypass allowed (docs/security.md; production pods do not).
process.env.ALLOW_RLS_BYPASS ??= '1';

failOnUncaught('failover');
const execFileP = promisify(execFile);
const ACCOUNT = 'failover';
const PHONE = '+15550005401';
const PEER_PHONE = '+15550007401';
const EVERY_MS = 100;
const TRAFFIC_BEFORE_MS = 4000;  // traffic before the first fault and after each login (+ 0-1 s)
const DRAIN_MS = 60000;          // after the last send: everything must have arrived by then,
const STALL_MS = 15000;          // or nothing more arrived for this long

const baseUrl = process.env.WACONN_TEST_DATABASE_URL;
if (!baseUrl) {
  console.log('failover: WACONN_TEST_DATABASE_URL is not set (start a cluster with scripts/pg-cluster.sh)');
  process.exit(1);
}
const exe = binary('waconnector');
const dbName = `waconn_failover_${randomBytes(6).toString('hex')}`;
const withDb = (url, name) => { const u = new URL(url); u.pathname = `/${name}`; return u.toString(); };
const psql = (url, sql) => execFileSync('psql', [url, '-At', '-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
const cli = (args) => execFileSync(exe, args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });

const r = new Report('failover');
psql(baseUrl, `CREATE DATABASE ${dbName}`);
const dbUrl = withDb(baseUrl, dbName);
const sim = await startWasim();
const pods = new Map();  // name -> {proc, port, log: [lines], exited}
const allLogs = [];      // every pod line ever, tagged with the pod name (across restarts)
let peer = null;
const t0 = Date.now();

function startPod(name) {
  const proc = spawn(exe, ['run', '--pod', name, '--http', '127.0.0.1:0', '--database-url', dbUrl,
    '--business-id', ACCOUNT, '--wa-url', sim.wsUrl, '--wa-root-key', sim.rootKey], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pod = { name, proc, port: null, exited: false };
  proc.on('exit', () => { pod.exited = true; });
  for (const s of [proc.stdout, proc.stderr]) {
    readline.createInterface({ input: s }).on('line', (l) => {
      allLogs.push({ pod: name, line: l });
      if (!pod.port && l.includes('"http_listening"')) {
        try { pod.port = JSON.parse(l).port; } catch { /* not JSON */ }
      }
    });
  }
  pods.set(name, pod);
  return pod;
}
async function stopPod(pod, signal) {
  if (pod.exited) return;
  const gone = new Promise((res) => pod.proc.once('exit', res));
  pod.proc.kill(signal);
  const t = setTimeout(() => pod.proc.kill('SIGKILL'), 15000);
  await gone;
  clearTimeout(t);
}
async function statusOf(pod) {
  if (!pod.port || pod.exited) return null;
  try {
    const res = await fetch(`http://127.0.0.1:${pod.port}/status`, { signal: AbortSignal.timeout(1000) });
    return await res.json();
  } catch { return null; }
}
// The pod that leads with a logged-in connection, if any.
async function leader() {
  for (const pod of pods.values()) {
    const s = await statusOf(pod);
    if (s?.accounts?.some((a) => (a.role === 'leader' || a.role === 'active') && a.connection === 'logged_in')) return pod;
  }
  return null;
}

let jid = null;
const connections = async () => (await admin(sim.adminUrl, 'GET', `/devices/${jid}/connections`)).json?.connections || [];
// The first login at wasim after `t` (ms epoch), null if none yet.
const loginAfter = async (t) => {
  const c = (await connections()).filter((x) => x.logged_in_ms && x.logged_in_ms > t);
  return c.length ? Math.min(...c.map((x) => x.logged_in_ms)) : null;
};
const gainAfter = (t) => {
  const v = psql(dbUrl, `SELECT coalesce((extract(epoch FROM min(at)) * 1000)::bigint::text, '') FROM ha_events
    WHERE business_id = '${ACCOUNT}' AND kind IN ('acquired', 'takeover') AND at >= to_timestamp(${t} / 1000.0)`);
  return v ? Number(v) : null;
};

const inboundSent = [];   // ids the peer sent
const outboundSent = [];  // ids `messages send` queued
let traffic = true;
const faults = [];
try {
  cli(['migrate', '--database-url', dbUrl]);
  cli(['accounts', 'add', '--database-url', dbUrl, '--business-id', ACCOUNT]);
  for (const n of ['pod-0', 'pod-1', 'pod-2']) startPod(n);

  await admin(sim.adminUrl, 'POST', '/phones', { phone: PHONE });
  const qr = await until(() => psql(dbUrl, `SELECT coalesce(qr_code, '') FROM wa_accounts WHERE business_id = '${ACCOUNT}'`), 30000, 200);
  if (!r.check('a pod publishes a QR', Boolean(qr))) throw new Error('no QR');
  const linked = await admin(sim.adminUrl, 'POST', `/phones/${PHONE}/link`, { qr });
  r.check('wasim links the account', linked.status === 200, linked.text);
  const first = await until(leader, 30000, 200);
  if (!r.check('a pod leads and is logged in', Boolean(first))) throw new Error('no login');
  jid = psql(dbUrl, `SELECT jid FROM wa_accounts WHERE business_id = '${ACCOUNT}'`);
  const connJid = `${PHONE.slice(1)}@s.whatsapp.net`;
  const peerJid = `${PEER_PHONE.slice(1)}@s.whatsapp.net`;

  peer = await openPeer({ version: '7', wsUrl: sim.wsUrl, adminUrl: sim.adminUrl, phone: PEER_PHONE, stepMs: 30000 });
  const send = (text) => execFileP(exe, ['messages', 'send', '--database-url', dbUrl, '--business-id', ACCOUNT,
    '--to', peerJid, '--text', text], { encoding: 'utf8' }).then(({ stdout }) => JSON.parse(stdout).id);
  const inbox = () => cli(['messages', 'list', '--database-url', dbUrl, '--business-id', ACCOUNT, '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));

  // Both ways once before the traffic: the sessions exist, so the faults hit ordinary traffic.
  const hello = await peer.send(connJid, 'failover warm-up in');
  r.check('warm-up: peer -> account', Boolean(await until(() => inbox().some((m) => m.id === hello), 30000, 200)));
  const back = await send('failover warm-up out');
  r.check('warm-up: account -> peer', Boolean(await peer.waitFor((m) => m.id === back, 30000)));

  // The two senders: one text every EVERY_MS each way until `traffic` ends.
  const inLoop = (async () => {
    for (let i = 0; traffic; i++) {
      const t = Date.now();
      try { inboundSent.push(await peer.send(connJid, `fo-in-${i}`)); } catch (e) { r.check(`peer send ${i}`, false, String(e)); }
      await sleep(Math.max(0, EVERY_MS - (Date.now() - t)));
    }
  })();
  // A CLI call takes longer than EVERY_MS on a loaded machine: up to 4 run at once, one started
  // every EVERY_MS, so the queue keeps filling during the faults.
  const outLoop = (async () => {
    const inFlight = new Set();
    for (let i = 0; traffic; i++) {
      const t = Date.now();
      const p = send(`fo-out-${i}`).then((id) => { outboundSent.push(id); },
        (e) => { r.check(`messages send ${i}`, false, String(e)); }).finally(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 4) await Promise.race(inFlight);
      await sleep(Math.max(0, EVERY_MS - (Date.now() - t)));
    }
    await Promise.all(inFlight);
  })();

  // fault: 'kill' | 'term' | 'lock'; the pod that leads is hit, a standby (or it) must log in.
  const fault = async (kind) => {
    await sleep(TRAFFIC_BEFORE_MS + Math.floor(Math.random() * 1000));  // a random phase against heartbeats
    const lead = await until(leader, 30000, 100);
    if (!r.check(`${kind}: someone leads before the fault`, Boolean(lead))) return;
    // Evidence for a resend after the fault: rows still 'queued' although queued over a second ago.
    const stale = psql(dbUrl, `SELECT coalesce(string_agg(id, ' ' ORDER BY created_at), '') FROM wa_outbox
      WHERE business_id = '${ACCOUNT}' AND status = 'queued' AND created_at < now() - interval '1 second'`);
    const at = Date.now();
    if (kind === 'kill') lead.proc.kill('SIGKILL');
    if (kind === 'term') lead.proc.kill('SIGTERM');
    if (kind === 'lock') {
      const n = psql(dbUrl, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
        WHERE application_name = 'waconnector/${lead.name}/lock'`);
      // At least one: a session of the pod's previous life (killed a moment ago) may still be listed.
      r.check(`lock: ${lead.name}'s lock session was terminated`, Number(n) >= 1, `terminated ${n}`);
    }
    const login = await until(() => loginAfter(at), 60000, 50);
    const gain = gainAfter(at);
    const f = { kind, pod: lead.name, takeover_ms: gain && gain - at, logged_in_ms: login && login - at,
      queued_over_1s: stale ? stale.split(' ') : [] };
    faults.push(f);
    r.check(`${kind}: the account logged in again after the fault`, Boolean(login), JSON.stringify(f));
    if (kind !== 'lock') {
      await stopPod(lead, 'SIGKILL');  // (already gone or going)
      startPod(lead.name);
    }
  };
  await fault('kill');
  await fault('term');
  await fault('lock');
  await sleep(TRAFFIC_BEFORE_MS);
  traffic = false;
  await Promise.all([inLoop, outLoop]);
  const trafficEnd = Date.now();

  // Drain: wait until everything arrived (or DRAIN_MS passed), then count.
  const inIds = new Set(inboundSent);
  const outIds = new Set(outboundSent);
  // A slower build (ASan) drains its outbox backlog more slowly: wait while it makes progress.
  let rows = [];
  let arrived = -1;
  let progressAt = Date.now();
  await until(() => {
    rows = inbox();
    const have = new Set(rows.map((m) => m.id));
    const peerHas = new Set(peer.received.map((m) => m.id));
    const n = [...inIds].filter((id) => have.has(id)).length + [...outIds].filter((id) => peerHas.has(id)).length;
    if (n > arrived) { arrived = n; progressAt = Date.now(); }
    return n === inIds.size + outIds.size || Date.now() - progressAt > STALL_MS;
  }, DRAIN_MS, 500);
  const statusOfRow = (id) => JSON.parse(cli(['messages', 'status', '--database-url', dbUrl, '--business-id', ACCOUNT, '--id', id])).status;
  let undelivered = [];
  await until(() => {
    undelivered = outboundSent.filter((id) => !['delivered', 'read'].includes(statusOfRow(id)));
    return undelivered.length === 0;
  }, Math.max(5000, DRAIN_MS - (Date.now() - trafficEnd)), 500);

  const count = (ids, list) => { const m = new Map(); for (const id of list) if (ids.has(id)) m.set(id, (m.get(id) || 0) + 1); return m; };
  const inCount = count(inIds, rows.map((m) => m.id));
  const outCount = count(outIds, peer.received.map((m) => m.id));
  const inLost = [...inIds].filter((id) => !inCount.has(id));
  const inDoubled = [...inCount].filter(([, n]) => n > 1).map(([id]) => id);
  const outLost = [...outIds].filter((id) => !outCount.has(id));
  const outDoubled = [...outCount].filter(([, n]) => n > 1).map(([id]) => id);
  const textOk = rows.filter((m) => inIds.has(m.id)).every((m) => /^fo-in-\d+$/.test(m.text));
  r.check('inbound: every message the peer sent is in the inbox', inLost.length === 0, `lost ${inLost.length}: ${inLost.slice(0, 10).join(' ')}`);
  r.check('inbound: none twice', inDoubled.length === 0, `doubled: ${inDoubled.slice(0, 10).join(' ')}`);
  r.check('inbound: the texts are the sent texts', textOk);
  r.check('outbound: the peer received every queued message', outLost.length === 0, `lost ${outLost.length}: ${outLost.slice(0, 10).join(' ')}`);
  // A row the old leader wrote to the socket but could not mark sent before its lease ended is sent
  // again by the next leader under the SAME id (the outbox contract): WhatsApp's apps show one
  // message per id, Baileys emits each copy. Counted as resent; a copy that differs is a failure.
  const textsOf = new Map();
  for (const m of peer.received) if (outIds.has(m.id)) textsOf.set(m.id, new Set([...(textsOf.get(m.id) || []), m.text]));
  const differing = [...textsOf].filter(([, t]) => t.size > 1).map(([id]) => id);
  r.check('outbound: every copy of an id carries the same text', differing.length === 0, `differ: ${differing.slice(0, 10).join(' ')}`);
  r.check('outbound: every row reached delivered', undelivered.length === 0,
    `${undelivered.length} not delivered: ${undelivered.slice(0, 5).map((id) => `${id}=${statusOfRow(id)}`).join(' ')}`);

  const bad = peer.received.filter((m) => m.error);
  r.check('Baileys decrypted everything it received', bad.length === 0, JSON.stringify(bad.slice(0, 3)));
  const peerFailures = peer.decryptFailures();
  r.check('Baileys logged no decryption error', peerFailures.length === 0, JSON.stringify(peerFailures.slice(0, 3)));
  const podFailures = allLogs.filter(({ line }) => /"outcome":"failed"|wa_message_retry_receipt|decrypt_failed/.test(line));
  r.check('no pod logged a decryption failure or sent a retry receipt', podFailures.length === 0,
    podFailures.slice(0, 3).map((x) => `${x.pod}: ${x.line}`).join('\n     '));
  const peerRetries = peer.logs.filter((l) => /retry/i.test(`${l.msg} ${l.err}`));
  r.check('Baileys logged no retry', peerRetries.length === 0, JSON.stringify(peerRetries.slice(0, 3)));

  // wasim's connection log: no two logins of the account's device open at the same time.
  const now = Date.now();
  const iv = (await connections()).filter((c) => c.logged_in_ms).map((c) => [c.logged_in_ms, c.closed_ms || now]);
  let overlap = 0;
  for (let i = 0; i < iv.length; i++) {
    for (let j = i + 1; j < iv.length; j++) overlap += Math.max(0, Math.min(iv[i][1], iv[j][1]) - Math.max(iv[i][0], iv[j][0]));
  }
  r.check('wasim: no overlap of two logins', overlap === 0, `overlap ${overlap} ms over ${iv.length} logins`);
  r.check('wasim: a login per fault plus the first', iv.length >= 4, `${iv.length} logins`);

  console.log(`failover: inbound sent=${inIds.size} stored=${inCount.size} lost=${inLost.length} doubled=${inDoubled.length}; ` +
    `outbound sent=${outIds.size} received=${outCount.size} lost=${outLost.length} resent_same_id=${outDoubled.length} ` +
    `delivered=${outIds.size - undelivered.length}`);
  for (const f of faults) {
    console.log(`failover: ${f.kind} of ${f.pod}: takeover_ms=${f.takeover_ms ?? 'none'} logged_in_ms=${f.logged_in_ms ?? 'none'} ` +
      `outbox rows queued over 1 s at the fault=${f.queued_over_1s.length}${f.queued_over_1s.length ? ` (${f.queued_over_1s.slice(0, 4).join(' ')})` : ''}`);
  }
  console.log(`failover: logins=${iv.length} overlap_ms=${overlap} pod decryption failures=${podFailures.length} ` +
    `Baileys decryption failures=${bad.length + peerFailures.length} run_s=${((Date.now() - t0) / 1000).toFixed(1)}`);
  if (inLost.length || inDoubled.length || outLost.length || outDoubled.length) {
    const ids = [...inLost, ...inDoubled, ...outLost, ...outDoubled].slice(0, 5);
    r.note(`evidence for ${ids.join(' ')}:`);
    for (const { pod, line } of allLogs) if (ids.some((id) => line.includes(id))) r.note(`  ${pod}: ${line}`);
    for (const line of sim.log) if (ids.some((id) => line.includes(id))) r.note(`  wasim: ${line}`);
  }
} finally {
  traffic = false;
  if (peer) await peer.end();
  for (const pod of pods.values()) await stopPod(pod, 'SIGTERM');
  await sim.stop();
  try { psql(baseUrl, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`); } catch { /* best effort */ }
}
if (r.failed) {
  // The whole story for a lost or doubled message: every pod line and wasim's log, kept on disk.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'waconn-failover-'));
  writeFileSync(path.join(dir, 'pods.log'), allLogs.map((x) => `${x.pod}: ${x.line}`).join('\n'));
  writeFileSync(path.join(dir, 'wasim.log'), sim.log.join('\n'));
  writeFileSync(path.join(dir, 'baileys.json'), JSON.stringify({ received: peer?.received, receipts: peer?.receipts, logs: peer?.logs,
    inboundSent, outboundSent, faults }, null, 1));
  r.note(`logs kept in ${dir}`);
  r.note(`pod log tail:\n${allLogs.slice(-30).map((x) => `${x.pod}: ${x.line}`).join('\n')}`);
  r.note(`wasim log tail:\n${sim.log.slice(-20).join('\n')}`);
}
r.finish();
process.exit(process.exitCode ?? 0);
