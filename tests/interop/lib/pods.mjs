// `waconnector run` replicas of one account for the Node drills and benches (failover.mjs,
// tests/e2e/exactly_once.mjs, bench/api): a fresh database on the test cluster, pods started and
// stopped by name (a stopped name can start again), each pod's HTTP port from its log, who leads
// with a logged-in connection, and pairing the account through the QR it publishes.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import readline from 'node:readline';
import { admin } from './peer.mjs';
import { binary } from './ours_cli.mjs';
import { until } from './wait.mjs';

// The throwaway cluster's superuser owns the tables, so row-level security cannot bind it: the
// pods these scripts start run with the bypass allowed (docs/security.md; production pods do not).
process.env.ALLOW_RLS_BYPASS ??= '1';

export const psql = (url, sql) =>
  execFileSync('psql', [url, '-At', '-X', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8' }).trim();

// A new database `${prefix}_<random>` on the cluster of WACONN_TEST_DATABASE_URL, migrated, with
// `account` registered. drop() removes it (best effort).
export function freshDatabase(prefix, account) {
  const baseUrl = process.env.WACONN_TEST_DATABASE_URL;
  if (!baseUrl) throw new Error('WACONN_TEST_DATABASE_URL is not set (start a cluster with scripts/pg-cluster.sh)');
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  psql(baseUrl, `CREATE DATABASE ${name}`);
  const u = new URL(baseUrl);
  u.pathname = `/${name}`;
  const url = u.toString();
  const exe = binary('waconnector');
  const cli = (args) => execFileSync(exe, [...args.slice(0, 2), '--database-url', url, ...args.slice(2)],
    { encoding: 'utf8', maxBuffer: 256 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
  cli(['migrate']);
  cli(['accounts', 'add', '--business-id', account]);
  return {
    url, name, account, exe,
    psql: (sql) => psql(url, sql),
    // `waconnector <command> <sub> --database-url URL ...args`, its stdout.
    cli,
    token: (tokenName = 'test') => JSON.parse(cli(['tokens', 'create', '--business-id', account, '--name', tokenName])).token,
    drop: () => { try { psql(baseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } catch { /* best effort */ } },
  };
}

// The replicas of db.account against wasim `sim` (lib/wasim.mjs). Every pod line is kept in
// `logs` ({pod, line}) across restarts.
export class Pods {
  constructor(db, sim, extraArgs = []) {
    this.db = db;
    this.sim = sim;
    this.extra = extraArgs;
    this.byName = new Map();
    this.logs = [];
  }

  start(name) {
    const proc = spawn(this.db.exe, ['run', '--pod', name, '--http', '127.0.0.1:0', '--database-url', this.db.url,
      '--business-id', this.db.account, '--wa-url', this.sim.wsUrl, '--wa-root-key', this.sim.rootKey, ...this.extra],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    const pod = { name, proc, port: null, exited: false };
    proc.on('exit', () => { pod.exited = true; });
    for (const s of [proc.stdout, proc.stderr]) {
      readline.createInterface({ input: s }).on('line', (l) => {
        this.logs.push({ pod: name, line: l });
        if (!pod.port && l.includes('"http_listening"')) {
          try { pod.port = JSON.parse(l).port; } catch { /* not JSON */ }
        }
      });
    }
    this.byName.set(name, pod);
    return pod;
  }

  // Sends `signal`; SIGKILL after 15 s; resolves once the process is gone.
  async stop(pod, signal = 'SIGTERM') {
    if (pod.exited) return;
    const gone = new Promise((res) => pod.proc.once('exit', res));
    pod.proc.kill(signal);
    const t = setTimeout(() => pod.proc.kill('SIGKILL'), 15000);
    await gone;
    clearTimeout(t);
  }

  async stopAll(signal = 'SIGTERM') {
    await Promise.all([...this.byName.values()].map((p) => this.stop(p, signal)));
  }

  // The end of a run: every pod stopped (SIGTERM), wasim stopped, the database dropped.
  async close() {
    await this.stopAll('SIGTERM');
    await this.sim.stop();
    this.db.drop();
  }

  running() { return [...this.byName.values()].filter((p) => !p.exited && p.port); }

  // Waits until every started pod reported its HTTP port.
  async listening(ms = 30000) {
    return until(() => [...this.byName.values()].every((p) => p.exited || p.port), ms, 50);
  }

  static async status(pod) {
    if (!pod.port || pod.exited) return null;
    try {
      const res = await fetch(`http://127.0.0.1:${pod.port}/status`, { signal: AbortSignal.timeout(1000) });
      return await res.json();
    } catch { return null; }
  }

  // The pod that leads with a logged-in connection, if any.
  async leader() {
    for (const pod of this.byName.values()) {
      const s = await Pods.status(pod);
      if (s?.accounts?.some((a) => (a.role === 'leader' || a.role === 'active') && a.connection === 'logged_in')) return pod;
    }
    return null;
  }

  // Pairs the account: a wasim virtual phone `phone` scans the QR a pod published; resolves with
  // the leader once it is logged in (throws otherwise).
  async pair(phone, ms = 30000) {
    await admin(this.sim.adminUrl, 'POST', '/phones', { phone });
    const qr = await until(() => this.db.psql(`SELECT coalesce(qr_code, '') FROM wa_accounts
      WHERE business_id = '${this.db.account}'`), ms, 200);
    if (!qr) throw new Error('no pod published a QR');
    const linked = await admin(this.sim.adminUrl, 'POST', `/phones/${phone}/link`, { qr });
    if (linked.status !== 200) throw new Error(`wasim did not link: ${linked.status} ${linked.text}`);
    const lead = await until(() => this.leader(), ms, 200);
    if (!lead) throw new Error('no pod logged in after pairing');
    return lead;
  }

  // The account's device jid (after pairing).
  jid() { return this.db.psql(`SELECT jid FROM wa_accounts WHERE business_id = '${this.db.account}'`); }

  // wasim's connection log of the device: [{opened_ms, logged_in_ms, closed_ms}...].
  async connections() {
    return (await admin(this.sim.adminUrl, 'GET', `/devices/${this.jid()}/connections`)).json?.connections || [];
  }

  // The first login at wasim after `t` (ms epoch), null if none yet.
  async loginAfter(t) {
    const c = (await this.connections()).filter((x) => x.logged_in_ms && x.logged_in_ms > t);
    return c.length ? Math.min(...c.map((x) => x.logged_in_ms)) : null;
  }

  // Total ms two logins of the device were open at the same time (0 expected).
  async overlapMs() {
    const now = Date.now();
    const iv = (await this.connections()).filter((c) => c.logged_in_ms).map((c) => [c.logged_in_ms, c.closed_ms || now]);
    let overlap = 0;
    for (let i = 0; i < iv.length; i++) {
      for (let j = i + 1; j < iv.length; j++) overlap += Math.max(0, Math.min(iv[i][1], iv[j][1]) - Math.max(iv[i][0], iv[j][0]));
    }
    return { overlap, logins: iv.length };
  }
}
