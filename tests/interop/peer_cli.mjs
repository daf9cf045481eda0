// The peer.mjs CLI as other tests and the demo use it, against a live wasim:
//   1. `pair` pairs Baileys 7 with a phone (credentials kept in an auth dir) and exits;
//   2. `send` (a new process on the same auth dir: no QR) writes to a virtual phone, which decrypts it;
//   3. the phone answers while no Baileys process runs; `wait-text` gets it from the offline queue;
//   4. Baileys 6 in `run` mode (commands on stdin) and Baileys 7 via `send` / `wait-text` exchange
//      texts with each other, 60,000 characters included;
//   5. bad usage exits 2 with one line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startWasim } from './lib/wasim.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';
import { admin } from './lib/peer.mjs';

failOnUncaught('peer_cli');
const here = path.dirname(fileURLToPath(import.meta.url));
const script = path.join(here, 'peer.mjs');

function runPeer(sim, args, { stdin = null, timeoutMs = 60000 } = {}) {
  const child = spawn(process.execPath, [script, ...args, '--ws', sim.wsUrl, '--admin', sim.adminUrl],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  const events = [];
  const waiters = [];
  let stderr = '';
  child.stderr.on('data', (c) => { stderr += c; });
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    try { events.push(JSON.parse(l)); } catch { events.push({ event: 'garbage', line: l }); }
    waiters.splice(0).forEach((w) => w());
  });
  if (stdin !== null) child.stdin.write(stdin); else child.stdin.end();
  const done = new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => { clearTimeout(t); resolve(code); });
  });
  const waitEvent = (pred, ms = 30000) => new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    const look = () => {
      const e = events.find(pred);
      if (e) { clearTimeout(t); resolve(e); } else waiters.push(look);
    };
    look();
  });
  return { child, events, done, waitEvent, stderr: () => stderr };
}

async function phoneInbox(sim, phone) {
  return (await admin(sim.adminUrl, 'GET', `/phones/${phone}/messages`)).json;
}

const r = new Report('peer_cli');
const sim = await startWasim();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'peer-cli-'));
try {
  const auth7 = path.join(tmp, 'b7');
  const auth6 = path.join(tmp, 'b6');
  const p7 = '+15550007201';
  const p6 = '+15550006201';
  const pv = '+15550009201';
  await admin(sim.adminUrl, 'POST', '/phones', { phone: pv });

  const pair = runPeer(sim, ['pair', '--phone', p7, '--auth', auth7]);
  const code = await pair.done;
  const ready = pair.events.find((e) => e.event === 'ready');
  r.check('pair: exits 0 after login', code === 0 && ready && /^15550007201:\d+@s\.whatsapp\.net$/.test(ready.me),
    `${code} ${JSON.stringify(pair.events)} ${pair.stderr()}`);

  const send = runPeer(sim, ['send', '--phone', p7, '--auth', auth7, '--to', '15550009201@s.whatsapp.net',
    '--text', 'from the CLI ✓', '--wait-ms', '500']);
  const sendCode = await send.done;
  const sent = send.events.find((e) => e.event === 'sent');
  r.check('send: logs in from the auth dir (no QR) and prints the id', sendCode === 0 && sent,
    `${sendCode} ${JSON.stringify(send.events)} ${send.stderr()}`);
  const inbox = await phoneInbox(sim, pv);
  const got = inbox.messages.find((m) => m.id === sent?.id);
  r.check('send: the virtual phone decrypted it', got && got.text === 'from the CLI ✓' && got.error === null,
    JSON.stringify(inbox.messages));

  // While no Baileys process runs: the phone answers; wait-text finds it in the offline batch.
  const ans = await admin(sim.adminUrl, 'POST', `/phones/${pv}/messages`, { to: p7, text: 'while you were away' });
  r.check('phone answers', ans.status === 200, ans.text);
  const wait = runPeer(sim, ['wait-text', '--phone', p7, '--auth', auth7, '--text', 'while you were away',
    '--timeout-ms', '20000']);
  const waitCode = await wait.done;
  const m = wait.events.find((e) => e.event === 'message' && e.text === 'while you were away');
  r.check('wait-text: exits 0 with the offline message printed', waitCode === 0 && m && m.error === null,
    `${waitCode} ${JSON.stringify(wait.events)}`);

  // Baileys 6 (run mode) and Baileys 7 write to each other.
  const big = 'x€'.repeat(30000);
  const bigFile = path.join(tmp, 'big.txt');
  writeFileSync(bigFile, big);
  const run6 = runPeer(sim, ['run', '--baileys', '6', '--phone', p6, '--auth', auth6], { stdin: '', timeoutMs: 120000 });
  const ready6 = await run6.waitEvent((e) => e.event === 'ready' || e.event === 'error', 40000);
  r.check('run (Baileys 6): ready', ready6?.event === 'ready', JSON.stringify(run6.events));
  const s7 = runPeer(sim, ['send', '--phone', p7, '--auth', auth7, '--to', '15550006201@s.whatsapp.net',
    '--text-file', bigFile, '--wait-ms', '500']);
  await s7.done;
  const id7 = s7.events.find((e) => e.event === 'sent')?.id;
  const got6 = await run6.waitEvent((e) => e.event === 'message' && e.id === id7);
  r.check('Baileys 7 -> Baileys 6: 60,000 characters decrypted', got6 && got6.error === null && got6.text === big,
    got6 ? `${got6.error} ${String(got6.text).slice(0, 40)}` : JSON.stringify(run6.events.slice(-3)));
  run6.child.stdin.write(`${JSON.stringify({ cmd: 'send', to: got6?.chat || '15550007201@s.whatsapp.net', text: 'hi back from 6' })}\n`);
  const sent6 = await run6.waitEvent((e) => e.event === 'sent');
  r.check('run: a send command prints sent', Boolean(sent6), JSON.stringify(run6.events.slice(-3)));
  const w7 = runPeer(sim, ['wait-text', '--phone', p7, '--auth', auth7, '--text', 'hi back from 6', '--timeout-ms', '20000']);
  const w7Code = await w7.done;
  r.check('Baileys 6 -> Baileys 7: decrypted', w7Code === 0, JSON.stringify(w7.events.slice(-3)));
  run6.child.stdin.write(`${JSON.stringify({ cmd: 'quit' })}\n`);
  r.check('run: quit exits 0', (await run6.done) === 0, run6.stderr().slice(-300));

  const bad = runPeer(sim, ['send', '--phone', p7, '--auth', auth7]);
  const badCode = await bad.done;
  r.check('bad usage exits 2 with a message', badCode === 2 && /send needs --to/.test(bad.stderr()), `${badCode} ${bad.stderr()}`);
} finally {
  await sim.stop();
  rmSync(tmp, { recursive: true, force: true });
}
if (r.failed) r.note(`wasim log tail:\n${sim.log.slice(-20).join('\n')}`);
r.finish();
process.exit(process.exitCode ?? 0);
