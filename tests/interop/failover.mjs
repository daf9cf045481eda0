// Failover under traffic with a Baileys peer (issue 8's proof): wasim, a fresh database, three
// `waconnector run` replicas of one paired account, and a Baileys 7 account on wasim. While the
// peer sends the account a text every 100 ms and `waconnector messages send` queues one to the peer
// every 100 ms, the test SIGKILLs the leader, then (once a standby logged in) SIGTERMs the new
// leader, then terminates the next leader's lock session (pg_terminate_backend on its
// 'waconnector/<pod>/lock' connection). A stopped pod is started again, so three replicas stay.
// At the end: every message arrived exactly once on each side, every outbound row is delivered,
// nobody logged a decryption failure, and wasim's connection log never had two logins open at once.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startWasim } from './lib/wasim.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';
import { openPeer } from './lib/peer.mjs';
import { freshDatabase, Pods } from './lib/pods.mjs';
import { sleep, until } from './lib/wait.mjs';

failOnUncaught('failover');
const execFileP = promisify(execFile);
const ACCOUNT = 'failover';
const PHONE = '+15550005401';
const PEER_PHONE = '+15550007401';
const EVERY_MS = 100;
const TRAFFIC_BEFORE_MS = 4000;  // traffic before the first fault and after each login (+ 0-1 s)
const DRAIN_MS = 60000;          // after the last send: everything must have arrived by then,
const STALL_MS = 15000;          // or nothing more arrived for this long

if (!process.env.WACONN_TEST_DATABASE_URL) {
  console.log('failover: WACONN_TEST_DATABASE_URL is not set (start a cluster with scripts/pg-cluster.sh)');
  process.exit(1);
}
const r = new Report('failover');
const db = freshDatabase('waconn_failover', ACCOUNT);
const dbUrl = db.url;
const exe = db.exe;
const sim = await startWasim();
const pods = new Pods(db, sim);
const allLogs = pods.logs;  // every pod line ever, tagged with the pod name (across restarts)
let peer = null;
const t0 = Date.now();
const leader = () => pods.leader();
const loginAfter = (t) => pods.loginAfter(t);
const gainAfter = (t) => {
  const v = db.psql(`SELECT coalesce((extract(epoch FROM min(at)) * 1000)::bigint::text, '') FROM ha_events
    WHERE business_id = '${ACCOUNT}' AND kind IN ('acquired', 'takeover') AND at >= to_timestamp(${t} / 1000.0)`);
  return v ? Number(v) : null;
};

const inboundSent = [];   // ids the peer sent
const outboundSent = [];  // ids `messages send` queued
let traffic = true;
const faults = [];
try {
  for (const n of ['pod-0', 'pod-1', 'pod-2']) pods.start(n);
  r.check('the account pairs and a pod logs in', Boolean(await pods.pair(PHONE)));
  const connJid = `${PHONE.slice(1)}@s.whatsapp.net`;
  const peerJid = `${PEER_PHONE.slice(1)}@s.whatsapp.net`;

  peer = await openPeer({ version: '7', wsUrl: sim.wsUrl, adminUrl: sim.adminUrl, phone: PEER_PHONE, stepMs: 30000 });
  const send = (text) => execFileP(exe, ['messages', 'send', '--database-url', dbUrl, '--business-id', ACCOUNT,
    '--to', peerJid, '--text', text], { encoding: 'utf8' }).then(({ stdout }) => JSON.parse(stdout).id);
  const inbox = () => db.cli(['messages', 'list', '--business-id', ACCOUNT, '--json'])
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
    const stale = db.psql(`SELECT coalesce(string_agg(id, ' ' ORDER BY created_at), '') FROM wa_outbox
      WHERE business_id = '${ACCOUNT}' AND status = 'queued' AND created_at < now() - interval '1 second'`);
    const at = Date.now();
    if (kind === 'kill') lead.proc.kill('SIGKILL');
    if (kind === 'term') lead.proc.kill('SIGTERM');
    if (kind === 'lock') {
      const n = db.psql(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
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
      await pods.stop(lead, 'SIGKILL');  // (already gone or going)
      pods.start(lead.name);
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
  const statusOfRow = (id) => JSON.parse(db.cli(['messages', 'status', '--business-id', ACCOUNT, '--id', id])).status;
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
  const { overlap, logins } = await pods.overlapMs();
  r.check('wasim: no overlap of two logins', overlap === 0, `overlap ${overlap} ms over ${logins} logins`);
  r.check('wasim: a login per fault plus the first', logins >= 4, `${logins} logins`);

  console.log(`failover: inbound sent=${inIds.size} stored=${inCount.size} lost=${inLost.length} doubled=${inDoubled.length}; ` +
    `outbound sent=${outIds.size} received=${outCount.size} lost=${outLost.length} resent_same_id=${outDoubled.length} ` +
    `delivered=${outIds.size - undelivered.length}`);
  for (const f of faults) {
    console.log(`failover: ${f.kind} of ${f.pod}: takeover_ms=${f.takeover_ms ?? 'none'} logged_in_ms=${f.logged_in_ms ?? 'none'} ` +
      `outbox rows queued over 1 s at the fault=${f.queued_over_1s.length}${f.queued_over_1s.length ? ` (${f.queued_over_1s.slice(0, 4).join(' ')})` : ''}`);
  }
  console.log(`failover: logins=${logins} overlap_ms=${overlap} pod decryption failures=${podFailures.length} ` +
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
  await pods.close();
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
