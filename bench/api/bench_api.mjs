#!/usr/bin/env node
// bench/api (issue 9): the application interface's numbers on wasim + a fresh database + `--pods`
// replicas of one paired account, a Baileys 7 peer (in this process) and a local webhook receiver
// (tests/interop/lib/webhook_receiver.mjs, every signature checked). Usage: bench/api/README.md.
//   1. latency: M texts one at a time, POST /v1/accounts/{id}/messages to a random pod ->
//      Baileys emitted the decrypted text: p50/p99 (and the POST's own answer time);
//   2. webhooks: every delivery of the run, from the event's creation (the envelope timestamp,
//      written in the transaction of its cause) to the receiver having it, p50/p99, and the
//      Baileys peer -> `message.received` delivered end to end;
//   3. throughput: N POSTs, C at a time, first all to one standby pod, then spread over all pods:
//      accepted (202) per second per pod, and the leader's rate of sends reaching Baileys.
import { randomBytes, randomInt } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const USAGE = `usage: node bench/api/bench_api.mjs [--latency M] [--sends N] [--concurrency C] [--pods P] [--bin-dir DIR] [--database-url URL] [--json]
  --latency M      POST -> Baileys samples, one at a time (default 200)
  --sends N        POSTs per throughput phase (default 1000)
  --concurrency C  POSTs in flight in the throughput phases (default 16)
  --pods P         replicas (default 3)
  --bin-dir DIR    waconnector and wasim (default: env WACONN_BIN_DIR, else build/bin)
  --database-url   a PostgreSQL server URL (default: env WACONN_TEST_DATABASE_URL); a fresh database is made there and dropped
  --pod-log FILE   write every pod's log lines there at the end (for a run that went wrong)`;
function usage(why) { process.stderr.write(`bench_api: ${why}\n${USAGE}\n`); process.exit(2); }
function parseArgs(argv) {
  const o = { latency: 200, sends: 1000, concurrency: 16, pods: 3, json: false };
  const num = { '--latency': 'latency', '--sends': 'sends', '--concurrency': 'concurrency', '--pods': 'pods' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (num[a]) {
      o[num[a]] = Number(val());
      if (!Number.isInteger(o[num[a]]) || o[num[a]] < 1) usage(`${a} must be a positive integer`);
    } else if (a === '--bin-dir') o.binDir = val();
    else if (a === '--database-url') o.databaseUrl = val();
    else if (a === '--pod-log') o.podLog = val();
    else if (a === '--json') o.json = true;
    else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    else usage(`unknown argument ${a}`);
  }
  if (o.pods < 2) usage('--pods must be at least 2 (one standby takes the POSTs)');
  return o;
}
const opts = parseArgs(process.argv.slice(2));
process.env.WACONN_BIN_DIR = path.resolve(process.env.WACONN_BIN_DIR || opts.binDir || path.join(here, '../../build/bin'));
if (opts.databaseUrl) process.env.WACONN_TEST_DATABASE_URL = opts.databaseUrl;
if (!process.env.WACONN_TEST_DATABASE_URL) usage('--database-url or env WACONN_TEST_DATABASE_URL is required (scripts/pg-cluster.sh start DIR prints one)');

// (imported after WACONN_BIN_DIR is set: the libs find the binaries through it)
const { startWasim } = await import('../../tests/interop/lib/wasim.mjs');
const { openPeer } = await import('../../tests/interop/lib/peer.mjs');
const { freshDatabase, Pods } = await import('../../tests/interop/lib/pods.mjs');
const { startReceiver } = await import('../../tests/interop/lib/webhook_receiver.mjs');
const { until } = await import('../../tests/interop/lib/wait.mjs');

const say = (s) => process.stderr.write(`bench_api: ${s}\n`);
const ACCOUNT = 'benchapi';
const PHONE = '+15550005801';
const PEER_PHONE = '+15550007801';
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.ceil(s.length * p) - 1))] : null;
};
const stats = (xs) => ({ n: xs.length, p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: xs.length ? Math.max(...xs) : null });

const db = freshDatabase('waconn_bench_api', ACCOUNT);
const sim = await startWasim();
const pods = new Pods(db, sim);
let peer = null;
let rx = null;
const result = { pods: opts.pods };
let exitCode = 0;
try {
  for (let i = 0; i < opts.pods; i++) pods.start(`api-${i}`);
  if (!await pods.listening()) throw new Error('the pods did not listen');
  const token = db.token('bench');
  const leader = await pods.pair(PHONE);
  const standbys = pods.running().filter((p) => p !== leader);
  const peerJid = `${PEER_PHONE.slice(1)}@s.whatsapp.net`;
  const connJid = `${PHONE.slice(1)}@s.whatsapp.net`;
  rx = await startReceiver();
  const post = async (pod, p, body, key) => {
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    if (key) headers['idempotency-key'] = key;
    const res = await fetch(`http://127.0.0.1:${pod.port}/v1/accounts/${ACCOUNT}${p}`,
      { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: res.status, json: await res.json().catch(() => null) };
  };
  const hook = await post(standbys[0], '/webhooks', { url: rx.url, events: ['*'] });
  if (hook.status !== 201) throw new Error(`webhook: ${hook.status} ${JSON.stringify(hook.json)}`);
  rx.secret = hook.json.secret;

  const receivedAt = new Map();  // Baileys: id -> ms
  peer = await openPeer({ version: '7', wsUrl: sim.wsUrl, adminUrl: sim.adminUrl, phone: PEER_PHONE, stepMs: 60000,
    onMessage: (m) => { if (!receivedAt.has(m.id)) receivedAt.set(m.id, Date.now()); },
    socketConfig: { shouldSyncHistoryMessage: () => false } });
  const send = (pod, text) => post(pod, '/messages', { to: peerJid, text }, `bench-${randomBytes(8).toString('hex')}`);

  // Warm-up both ways (the Signal sessions exist; the measured texts are `msg`s).
  const warm = await send(standbys[0], 'bench warm-up');
  if (!await until(() => receivedAt.has(warm.json?.id), 60000, 20)) throw new Error('warm-up: Baileys got nothing');
  await peer.send(connJid, 'bench warm-up in');
  if (!await rx.waitFor((ds) => ds.some((d) => d.event?.data?.text === 'bench warm-up in'), 60000)) throw new Error('warm-up: no webhook');

  // ---- 1. latency: POST -> Baileys ----
  say(`latency: ${opts.latency} POSTs one at a time to random pods -> Baileys`);
  const e2e = [];
  const answer = [];
  let lost = 0;
  for (let i = 0; i < opts.latency; i++) {
    const live = pods.running();
    const t0 = Date.now();
    const r = await send(live[randomInt(live.length)], `bench-lat-${i}`);
    answer.push(Date.now() - t0);
    if (r.status !== 202) { lost++; continue; }
    if (!await until(() => receivedAt.has(r.json.id), 30000, 2)) { lost++; continue; }
    e2e.push(receivedAt.get(r.json.id) - t0);
  }
  result.post_to_baileys_ms = { ...stats(e2e), lost };
  result.post_answer_ms = stats(answer);

  // ---- 2. inbound: Baileys -> message.received at the receiver ----
  say(`inbound: ${Math.min(opts.latency, 100)} texts from Baileys, one at a time -> message.received webhook`);
  const inbound = [];
  for (let i = 0; i < Math.min(opts.latency, 100); i++) {
    const text = `bench-in-${i}`;
    const t0 = Date.now();
    await peer.send(connJid, text);
    const got = await rx.waitFor((ds) => ds.some((d) => d.status < 300 && d.event?.data?.text === text), 30000);
    if (got) inbound.push(got.find((d) => d.event?.data?.text === text).at - t0);
  }
  result.baileys_to_webhook_ms = stats(inbound);

  // ---- 3. throughput ----
  const phase = async (name, choose) => {
    say(`throughput (${name}): ${opts.sends} POSTs, ${opts.concurrency} in flight`);
    const perPod = new Map();
    const ids = [];
    let next = 0;
    let failed = 0;
    const t0 = Date.now();
    const worker = async () => {
      while (next < opts.sends) {
        const i = next++;
        const pod = choose();
        const r = await send(pod, `bench-${name}-${i}`).catch(() => ({ status: 0 }));
        if (r.status === 202) { ids.push(r.json.id); perPod.set(pod.name, (perPod.get(pod.name) || 0) + 1); } else failed++;
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency }, worker));
    const postMs = Date.now() - t0;
    let got = 0;
    let progressAt = Date.now();
    await until(() => {
      const n = ids.filter((id) => receivedAt.has(id)).length;
      if (n > got) { got = n; progressAt = Date.now(); }
      return n === ids.length || Date.now() - progressAt > 30000;
    }, 600000, 50);
    const last = Math.max(...ids.filter((id) => receivedAt.has(id)).map((id) => receivedAt.get(id)));
    const sendMs = last - t0;
    return {
      accepted: ids.length, failed, post_wall_ms: postMs,
      accepted_per_s: (ids.length * 1000) / postMs,
      accepted_per_s_per_pod: Object.fromEntries([...perPod].map(([n, c]) => [n, (c * 1000) / postMs])),
      reached_baileys: got, leader_sends_per_s: (got * 1000) / sendMs, baileys_wall_ms: sendMs,
    };
  };
  result.throughput_one_standby = await phase('one', () => standbys[0]);
  result.throughput_all_pods = await phase('all', () => { const live = pods.running(); return live[randomInt(live.length)]; });

  // ---- webhooks: every delivery of the run ----
  await rx.waitFor(() => rx.summary().delivered_statuses >= receivedAt.size - 1, 60000);  // (the settle of status events)
  const taken = rx.deliveries.filter((d) => d.status < 300 && d.event?.timestamp);
  const lag = (type) => taken.filter((d) => !type || d.event.type === type).map((d) => d.at - Date.parse(d.event.timestamp));
  result.webhook_delivery_ms = { all: stats(lag()), 'message.received': stats(lag('message.received')),
    'message.status': stats(lag('message.status')) };
  const s = rx.summary();
  result.webhooks = { attempts: s.attempts, events: s.events, signatures_valid: s.signatures_valid, signatures_checked: s.signatures_checked };
  result.machine = { cpus: os.cpus().length, loadavg_1m: os.loadavg()[0] };

  if (opts.json) console.log(JSON.stringify(result));
  else {
    const f = (x, d = 0) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
    const line = (st) => `p50 ${f(st.p50)} ms, p99 ${f(st.p99)} ms, max ${f(st.max)} ms (${st.n} samples)`;
    console.log(`POST /messages (random pod) -> Baileys received: ${line(result.post_to_baileys_ms)}, lost ${result.post_to_baileys_ms.lost}`);
    console.log(`POST /messages answer (202):                   ${line(result.post_answer_ms)}`);
    console.log(`Baileys -> message.received at the receiver:   ${line(result.baileys_to_webhook_ms)}`);
    for (const [k, st] of Object.entries(result.webhook_delivery_ms)) {
      console.log(`webhook delivery, event created -> received (${k}): ${line(st)}`);
    }
    for (const [k, t] of [['one standby pod', result.throughput_one_standby], [`all ${opts.pods} pods`, result.throughput_all_pods]]) {
      console.log(`throughput, POSTs to ${k}: ${t.accepted} accepted (${t.failed} failed) in ${t.post_wall_ms} ms = ${f(t.accepted_per_s)}/s ` +
        `(per pod: ${Object.entries(t.accepted_per_s_per_pod).map(([n, r]) => `${n} ${f(r)}/s`).join(', ')}); ` +
        `the leader's sends reaching Baileys: ${t.reached_baileys} in ${t.baileys_wall_ms} ms = ${f(t.leader_sends_per_s)}/s`);
    }
    console.log(`webhooks: ${s.attempts} attempts, ${s.events} events, signatures valid ${s.signatures_valid}/${s.signatures_checked}; ` +
      `machine: ${result.machine.cpus} CPUs, load average ${f(result.machine.loadavg_1m, 1)}`);
  }
  const t1 = result.throughput_one_standby;
  const t2 = result.throughput_all_pods;
  if (result.post_to_baileys_ms.lost || t1.reached_baileys !== t1.accepted || t2.reached_baileys !== t2.accepted ||
      s.signatures_valid !== s.signatures_checked) {
    say('incomplete: a send was lost or a webhook signature did not verify');
    exitCode = 1;
  }
} catch (e) {
  say(`error: ${e?.stack || e}`);
  say(`pod log tail:\n${pods.logs.slice(-15).map((x) => `${x.pod}: ${x.line}`).join('\n')}`);
  exitCode = 1;
} finally {
  if (opts.podLog) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(opts.podLog, pods.logs.map((x) => `${x.pod}: ${x.line}`).join('\n') + '\n');
  }
  if (peer) await peer.end();
  if (rx) await rx.close();
  await pods.close();
}
process.exit(exitCode);
