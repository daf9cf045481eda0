#!/usr/bin/env node
// bench/messages (issue 8): inbound 1:1 messages decrypted + stored + acked per second per core,
// waconnector (one `waconnector run`, durable commit in PostgreSQL) against Baileys 7 (its
// in-memory key store), on the same wasim and machine in the same run; then send -> Baileys-received
// latency of `waconnector messages send`. Usage: bench/messages/README.md.
//
// Inbound: a wasim virtual phone sends N texts to each receiver while it is offline (after a
// warm-up both ways, so they are ordinary `msg`s on an existing session); the receiver then logs
// in and drains the offline batch. Measured from its login to its N-th message: wall time and the
// receiver's CPU time (waconnector: its process, and also with its PostgreSQL backends; Baileys:
// its Node process). msgs per CPU-second = msgs per second per core.
import { spawn, fork, execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startWasim } from '../../tests/interop/lib/wasim.mjs';
import { admin } from '../../tests/interop/lib/peer.mjs';
import { sleep, until as untilMs } from '../../tests/interop/lib/wait.mjs';
// The throwaway cluster's superuser owns the tables, so row-level security cannot bind it: the
// pods this script starts run with the bypass allowed (docs/security.md; production pods do not).
process.env.ALLOW_RLS_BYPASS ??= '1';

const here = path.dirname(fileURLToPath(import.meta.url));
const execFileP = promisify(execFile);
const USAGE = `usage: node bench/messages/bench_messages.mjs [--messages N] [--latency M] [--bin-dir DIR] [--database-url URL] [--json]
  --messages N   inbound texts per receiver (default 2000; 200 for a quick check)
  --latency M    send -> Baileys-received samples (default 200; M = N/10 when --messages is given and --latency is not)
  --bin-dir DIR  waconnector and wasim (default: env WACONN_BIN_DIR, else build/bin)
  --database-url a PostgreSQL server URL (default: env WACONN_TEST_DATABASE_URL); a fresh database is made there and dropped`;

function parseArgs(argv) {
  const o = { messages: 2000, latency: null, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => { if (i + 1 >= argv.length) usage(`${a} needs a value`); return argv[++i]; };
    if (a === '--messages') o.messages = Number(val());
    else if (a === '--latency') o.latency = Number(val());
    else if (a === '--bin-dir') o.binDir = val();
    else if (a === '--database-url') o.databaseUrl = val();
    else if (a === '--json') o.json = true;
    else if (a === '-h' || a === '--help') { console.log(USAGE); process.exit(0); }
    else usage(`unknown argument ${a}`);
  }
  if (!Number.isInteger(o.messages) || o.messages < 1) usage('--messages must be a positive integer');
  if (o.latency === null) o.latency = argv.includes('--messages') ? Math.max(10, Math.floor(o.messages / 10)) : 200;
  if (!Number.isInteger(o.latency) || o.latency < 1) usage('--latency must be a positive integer');
  return o;
}
function usage(why) { process.stderr.write(`bench_messages: ${why}\n${USAGE}\n`); process.exit(2); }

const opts = parseArgs(process.argv.slice(2));
const binDir = path.resolve(process.env.WACONN_BIN_DIR || opts.binDir || path.join(here, '../../build/bin'));
process.env.WACONN_BIN_DIR = binDir;  // startWasim finds wasim there
const exe = path.join(binDir, 'waconnector');
const baseUrl = opts.databaseUrl || process.env.WACONN_TEST_DATABASE_URL;
if (!baseUrl) usage('--database-url or env WACONN_TEST_DATABASE_URL is required (scripts/pg-cluster.sh start DIR prints one)');
const say = (s) => process.stderr.write(`bench_messages: ${s}\n`);

const ACCOUNT = 'bench';
const PHONE = '+15550005501';      // the waconnector account's phone
const BAILEYS_PHONE = '+15550007501';
const SENDER = '+15550005599';     // the virtual phone that sends to both
const dbName = `waconn_bench_${randomBytes(6).toString('hex')}`;
const withDb = (url, name) => { const u = new URL(url); u.pathname = `/${name}`; return u.toString(); };
const psql = (url, sql) => execFileSync('psql', [url, '-At', '-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();
const cli = (args) => execFileSync(exe, args, { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
const clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
// utime + stime of a process, ms (0 when it is gone).
const cpuMs = (pid) => {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / clkTck;
  } catch { return 0; }
};
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p) - 1))];
const until = (fn, ms, every = 50) => untilMs(fn, ms, every);

psql(baseUrl, `CREATE DATABASE ${dbName}`);
const dbUrl = withDb(baseUrl, dbName);
const sim = await startWasim();
let pod = null;
let baileys = null;
const podLines = [];
const podWaiters = new Set();

function startPod() {
  const proc = spawn(exe, ['run', '--pod', 'bench-0', '--http', '127.0.0.1:0', '--database-url', dbUrl,
    '--business-id', ACCOUNT, '--wa-url', sim.wsUrl, '--wa-root-key', sim.rootKey], { stdio: ['ignore', 'pipe', 'pipe'] });
  const p = { proc, loginAt: null, firstAt: null, stored: 0, enc: {} };
  for (const s of [proc.stdout, proc.stderr]) {
    readline.createInterface({ input: s }).on('line', (l) => {
      podLines.push(l);
      if (podLines.length > 5000) podLines.shift();
      if (l.includes('"wa_client_logged_in"')) p.loginAt = Date.now();
      if (l.includes('"wa_message_received"')) {
        const m = /"stored":(\d+)/.exec(l);
        if (m) p.stored += Number(m[1]);
        if (m && Number(m[1]) > 0 && !p.firstAt) p.firstAt = Date.now();
      }
      if (l.includes('"wa_message_enc"')) {
        const m = /"type":"(\w+)","outcome":"(\w+)"/.exec(l);
        if (m) p.enc[`${m[1]}/${m[2]}`] = (p.enc[`${m[1]}/${m[2]}`] || 0) + 1;
      }
      for (const w of [...podWaiters]) w();
    });
  }
  return p;
}
async function stopPod(p) {
  if (!p || p.proc.exitCode !== null || p.proc.signalCode) return;
  const gone = new Promise((res) => p.proc.once('exit', res));
  p.proc.kill('SIGTERM');
  await gone;
}

// The Baileys receiver: a child process (its CPU is its own), spoken to over IPC.
function startBaileys() {
  const child = fork(path.join(here, 'baileys_receiver.mjs'), [sim.wsUrl, sim.adminUrl, BAILEYS_PHONE], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const b = { child, events: [], waiters: new Set(), received: new Map() };
  child.on('message', (e) => {
    if (e.event === 'message') b.received.set(e.id, e);
    else b.events.push(e);
    for (const w of [...b.waiters]) w();
  });
  b.next = (event, ms = 120000) => new Promise((resolve, reject) => {
    const t = setTimeout(() => { b.waiters.delete(look); reject(new Error(`Baileys: no '${event}' within ${ms} ms`)); }, ms);
    const look = () => {
      const i = b.events.findIndex((e) => e.event === event || e.event === 'error');
      if (i < 0) return;
      const [e] = b.events.splice(i, 1);
      clearTimeout(t);
      b.waiters.delete(look);
      if (e.event === 'error') reject(new Error(`Baileys: ${e.error}`)); else resolve(e);
    };
    b.waiters.add(look);
    look();
  });
  b.cmd = (c) => child.send(c);
  b.waitMessage = (pred, ms) => new Promise((resolve) => {
    const t = setTimeout(() => { b.waiters.delete(look); resolve(null); }, ms);
    const look = () => {
      for (const m of b.received.values()) if (pred(m)) { clearTimeout(t); b.waiters.delete(look); resolve(m); return; }
    };
    b.waiters.add(look);
    look();
  });
  return b;
}

// The phone sends `count` texts `${prefix}${i}` to `to`, 8 requests at a time; returns the
// counts of pkmsg/msg it encrypted for the receiver's devices.
async function phoneSends(to, prefix, count) {
  let next = 0;
  const kinds = { pkmsg: 0, msg: 0 };
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const res = await admin(sim.adminUrl, 'POST', `/phones/${SENDER}/messages`, { to, text: `${prefix}${i}` });
      if (res.status !== 200) throw new Error(`phone send ${i}: ${res.status} ${res.text}`);
      kinds.pkmsg += res.json.pkmsg; kinds.msg += res.json.msg;
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return kinds;
}

const result = { messages: opts.messages, latency_samples: opts.latency };
let exitCode = 0;
try {
  cli(['migrate', '--database-url', dbUrl]);
  cli(['accounts', 'add', '--database-url', dbUrl, '--business-id', ACCOUNT]);
  await admin(sim.adminUrl, 'POST', '/phones', { phone: PHONE });
  await admin(sim.adminUrl, 'POST', '/phones', { phone: SENDER });
  pod = startPod();
  const qr = await until(() => psql(dbUrl, `SELECT coalesce(qr_code, '') FROM wa_accounts WHERE business_id = '${ACCOUNT}'`), 30000, 200);
  if (!qr) throw new Error('waconnector published no QR');
  const linked = await admin(sim.adminUrl, 'POST', `/phones/${PHONE}/link`, { qr });
  if (linked.status !== 200) throw new Error(`link: ${linked.status} ${linked.text}`);
  if (!await until(() => podLines.some((l) => l.includes('wa_client_prekeys_uploaded')), 30000)) throw new Error('waconnector did not log in');
  const connJid = `${PHONE.slice(1)}@s.whatsapp.net`;
  const senderJid = `${SENDER.slice(1)}@s.whatsapp.net`;
  const baileysJid = `${BAILEYS_PHONE.slice(1)}@s.whatsapp.net`;

  baileys = startBaileys();
  await baileys.next('ready');
  baileys.cmd({ cmd: 'open' });
  await baileys.next('open');

  // Warm-up both ways with the sender phone, so the measured texts are `msg`s on a session.
  const inbox = () => cli(['messages', 'list', '--database-url', dbUrl, '--business-id', ACCOUNT, '--json']);
  cli(['messages', 'send', '--database-url', dbUrl, '--business-id', ACCOUNT, '--to', senderJid, '--text', 'warm-up from the connector']);
  baileys.cmd({ cmd: 'send', to: senderJid, text: 'warm-up from Baileys' });
  await baileys.next('sent');
  const phoneGot = (t) => async () => (await admin(sim.adminUrl, 'GET', `/phones/${SENDER}/messages`)).text.includes(t);
  if (!await until(phoneGot('warm-up from the connector'), 30000, 200)) throw new Error('warm-up: the phone got nothing from the connector');
  if (!await until(phoneGot('warm-up from Baileys'), 30000, 200)) throw new Error('warm-up: the phone got nothing from Baileys');
  await phoneSends(connJid, 'warm-up to connector ', 1);
  await phoneSends(baileysJid, 'warm-up to Baileys ', 1);
  if (!await until(() => inbox().includes('warm-up to connector '), 30000, 200)) throw new Error('warm-up: the connector got nothing');
  if (!await baileys.waitMessage((m) => m.text?.startsWith('warm-up to Baileys '), 30000)) throw new Error('warm-up: Baileys got nothing');

  // ---- inbound, waconnector ----
  const N = opts.messages;
  say(`waconnector: ${N} texts wait in wasim while it is down`);
  await stopPod(pod);
  const connKinds = await phoneSends(connJid, 'bench-in-', N);
  pod = startPod();
  const pg = () => psql(dbUrl, `SELECT coalesce(string_agg(pid::text, ' '), '') FROM pg_stat_activity
    WHERE application_name LIKE 'waconnector/bench-0/%'`).split(' ').filter(Boolean);
  let pod0 = null;
  let pg0 = null;
  const podDone = await until(() => {
    if (pod.loginAt && !pod0) {
      pg0 = new Map(pg().map((pid) => [pid, cpuMs(pid)]));
      pod0 = { t: pod.loginAt, cpu: cpuMs(pod.proc.pid) };
    }
    return pod0 && pod.stored >= N;
  }, 600000, 5);
  if (!podDone) throw new Error(`waconnector stored ${pod.stored}/${N} within 10 minutes`);
  const podEnd = { t: Date.now(), cpu: cpuMs(pod.proc.pid) };
  let pgCpu = 0;
  for (const pid of pg()) pgCpu += cpuMs(pid) - (pg0.get(pid) || 0);
  const rows = Number(psql(dbUrl, `SELECT count(*) FROM wa_inbox WHERE business_id = '${ACCOUNT}' AND text LIKE 'bench-in-%'`));
  result.waconnector = {
    received: pod.stored, rows_in_inbox: rows, sender_encrypted: connKinds, enc_outcomes: pod.enc,
    wall_ms: podEnd.t - pod0.t, first_message_ms: pod.firstAt - pod0.t, cpu_ms: podEnd.cpu - pod0.cpu, pg_backend_cpu_ms: pgCpu,
  };

  // ---- inbound, Baileys 7 ----
  say(`Baileys 7: ${N} texts wait in wasim while it is down`);
  baileys.cmd({ cmd: 'close' });
  await baileys.next('closed');
  const baileysKinds = await phoneSends(baileysJid, 'bench-in-', N);
  baileys.cmd({ cmd: 'drain', prefix: 'bench-in-', count: N });
  const drained = await baileys.next('drained', 600000);
  result.baileys = { received: drained.received, failed: drained.failed, sender_encrypted: baileysKinds,
    wall_ms: drained.wall_ms, cpu_ms: drained.cpu_ms, first_message_ms: drained.first_ms, reconnect_ms: drained.open_ms };

  // ---- latency: messages send -> Baileys decrypted it ----
  say(`latency: ${opts.latency} texts from \`waconnector messages send\` to Baileys, one at a time`);
  const fromSpawn = [];
  const fromCommit = [];
  let lost = 0;
  for (let i = 0; i < opts.latency; i++) {
    const t0 = Date.now();
    const { stdout } = await execFileP(exe, ['messages', 'send', '--database-url', dbUrl, '--business-id', ACCOUNT,
      '--to', baileysJid, '--text', `bench-lat-${i}`], { encoding: 'utf8' });
    const t1 = Date.now();
    const id = JSON.parse(stdout).id;
    const got = await baileys.waitMessage((m) => m.id === id, 30000);
    if (!got) { lost++; continue; }
    fromSpawn.push(got.at_ms - t0);
    fromCommit.push(got.at_ms - t1);
  }
  fromSpawn.sort((a, b) => a - b);
  fromCommit.sort((a, b) => a - b);
  result.latency = {
    samples: fromSpawn.length, lost,
    send_to_received_ms: { p50: pct(fromSpawn, 0.5), p99: pct(fromSpawn, 0.99), max: fromSpawn.at(-1) },
    queued_to_received_ms: { p50: pct(fromCommit, 0.5), p99: pct(fromCommit, 0.99), max: fromCommit.at(-1) },
  };

  const w = result.waconnector;
  const b = result.baileys;
  const rate = (n, ms) => (ms > 0 ? (n * 1000) / ms : null);
  w.msgs_per_s = rate(N, w.wall_ms);
  w.msgs_per_cpu_s = rate(N, w.cpu_ms);
  w.msgs_per_cpu_s_with_pg = rate(N, w.cpu_ms + w.pg_backend_cpu_ms);
  b.msgs_per_s = rate(N, b.wall_ms);
  b.msgs_per_cpu_s = rate(N, b.cpu_ms);
  result.ratio_per_cpu = w.msgs_per_cpu_s / b.msgs_per_cpu_s;
  result.ratio_per_cpu_with_pg = w.msgs_per_cpu_s_with_pg / b.msgs_per_cpu_s;
  result.ratio_wall = w.msgs_per_s / b.msgs_per_s;
  result.machine = { cpus: (await import('node:os')).cpus().length, loadavg_1m: (await import('node:os')).loadavg()[0] };

  const f = (x, d = 0) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
  if (opts.json) console.log(JSON.stringify(result));
  else {
    console.log(`inbound 1:1 texts (offline batch of ${N}, msg on an existing session; login -> last one ${'stored'}):`);
    console.log(`  waconnector  ${f(w.msgs_per_s)} msg/s wall, ${f(w.msgs_per_cpu_s)} msg/s per core (its process, ${f(w.cpu_ms)} CPU ms), ` +
      `${f(w.msgs_per_cpu_s_with_pg)} msg/s per core with its PostgreSQL backends (+${f(w.pg_backend_cpu_ms)} ms); inbox rows ${w.rows_in_inbox}`);
    console.log(`  baileys 7    ${f(b.msgs_per_s)} msg/s wall, ${f(b.msgs_per_cpu_s)} msg/s per core (its process, ${f(b.cpu_ms)} CPU ms); ` +
      `in-memory keys, decryption failures ${b.failed}`);
    console.log(`  ratio waconnector/baileys per core: ${f(result.ratio_per_cpu, 2)} (with PostgreSQL's CPU: ${f(result.ratio_per_cpu_with_pg, 2)}); wall: ${f(result.ratio_wall, 2)}`);
    console.log(`latency \`messages send\` -> Baileys received (${fromSpawn.length} samples, lost ${lost}):`);
    console.log(`  from the command's start: p50 ${result.latency.send_to_received_ms.p50} ms, p99 ${result.latency.send_to_received_ms.p99} ms, max ${result.latency.send_to_received_ms.max} ms`);
    console.log(`  from the row committed:   p50 ${result.latency.queued_to_received_ms.p50} ms, p99 ${result.latency.queued_to_received_ms.p99} ms, max ${result.latency.queued_to_received_ms.max} ms`);
    console.log(`machine: ${result.machine.cpus} CPUs, load average ${f(result.machine.loadavg_1m, 1)}; sender encrypted for waconnector ${JSON.stringify(connKinds)}, for Baileys ${JSON.stringify(baileysKinds)}`);
  }
  if (w.rows_in_inbox !== N || b.failed > 0 || lost > 0) {
    say(`incomplete: inbox rows ${w.rows_in_inbox}/${N}, Baileys decryption failures ${b.failed}, latency texts lost ${lost}`);
    exitCode = 1;
  }
} catch (e) {
  say(`error: ${e?.stack || e}`);
  say(`waconnector log tail:\n${podLines.slice(-15).join('\n')}`);
  exitCode = 1;
} finally {
  if (baileys) { baileys.cmd({ cmd: 'quit' }); await Promise.race([new Promise((r) => baileys.child.once('exit', r)), sleep(3000)]); baileys.child.kill(); }
  await stopPod(pod);
  await sim.stop();
  try { psql(baseUrl, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`); } catch { /* best effort */ }
}
process.exit(exitCode);
