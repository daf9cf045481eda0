// Starts wasim on ephemeral loopback ports with a fresh state dir and waits for the log lines
// that name its ports and root key (wasim logs JSON lines on stderr).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binary } from './ours_cli.mjs';

export function startWasim({ timeoutMs = 10000 } = {}) {
  const exe = binary('wasim');
  const stateDir = mkdtempSync(path.join(os.tmpdir(), 'wasim-interop-'));
  const child = spawn(exe, ['--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state', stateDir],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  let rootKey = null, listening = null, exited = null;
  const waiters = [];
  const wake = () => waiters.splice(0).forEach((w) => w());
  const onLine = (line) => {
    log.push(line);
    if (log.length > 20000) log.shift();  // enough for a failover test's evidence
    let o;
    try { o = JSON.parse(line); } catch { return; }
    if (o.event === 'wasim_root_key') rootKey = o.root_public_key;
    if (o.event === 'wasim_listening') listening = o;
    wake();
  };
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (c) => {
      partial += c;
      let nl;
      while ((nl = partial.indexOf('\n')) >= 0) { onLine(partial.slice(0, nl)); partial = partial.slice(nl + 1); }
    });
  }
  child.on('exit', (code, signal) => { exited = signal || code; wake(); });

  const stop = async () => {
    if (exited === null) {
      const gone = new Promise((res) => child.once('exit', res));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(t);
    }
    rmSync(stateDir, { recursive: true, force: true });
  };

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`wasim did not report its ports and root key within ${timeoutMs} ms; log:\n${log.slice(-20).join('\n')}`));
    }, timeoutMs);
    const check = () => {
      if (exited !== null) {
        clearTimeout(timer);
        reject(new Error(`wasim exited (${exited}) before listening; log:\n${log.slice(-20).join('\n')}`));
      } else if (rootKey && listening) {
        clearTimeout(timer);
        resolve({
          wsUrl: listening.ws_url || `ws://127.0.0.1:${listening.ws_port}/ws/chat`,
          adminUrl: listening.admin_url || `http://127.0.0.1:${listening.admin_port}/admin`,
          rootKey, stateDir, log, stop, process: child,
        });
      } else waiters.push(check);
    };
    check();
  });
}
