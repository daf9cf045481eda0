// Test 4: our client transport (wa_interop_client_probe = connect_and_handshake) against a live
// wasim. Trusting wasim's root key it completes the handshake and reads wasim's first stanza
// (the pair-device IQ answering our registration), under dictionary v3 and v2. Trusting a wrong
// root (WhatsApp's production key, or a random key) it fails with the certificate chain error.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { binary } from './lib/ours_cli.mjs';
import { startWasim } from './lib/wasim.mjs';
import { Report, failOnUncaught } from './lib/report.mjs';

failOnUncaught('client_root_key');
const PRODUCTION_ROOT = '142375574d0a587166aae71ebe516437c4a28b73e3695c6ce1f7f9545da8ee6b';

function probe(url, rootKey, dict) {
  const exe = binary('wa_interop_client_probe');
  return new Promise((resolve, reject) => {
    const child = spawn(exe, ['--url', url, '--root-key', rootKey, '--dict', String(dict)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { if (err.length < 8000) err += c; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() || '';
      let result = null;
      try { result = JSON.parse(line); } catch { /* reported below */ }
      resolve({ code: signal || code, result, raw: line, stderr: err });
    });
  });
}

const r = new Report('client_root_key');
const sim = await startWasim();
try {
  for (const dict of [3, 2]) {
    const p = await probe(sim.wsUrl, sim.rootKey, dict);
    const node = p.result?.ok ? p.result.first_node : null;
    const pairDevice = node?.tag === 'iq' && Array.isArray(node.content) && node.content[0]?.tag === 'pair-device';
    r.check(`dict v${dict}: trusting wasim's root, our client completes the handshake and reads pair-device`,
      p.code === 0 && pairDevice, `exit ${p.code}: ${p.raw} ${p.stderr.slice(-500)}`);
    if (pairDevice) {
      const refs = node.content[0].content.filter((c) => c.tag === 'ref').length;
      r.note(`dict v${dict}: pair-device with ${refs} refs`);
    }
  }
  for (const [label, key] of [['WhatsApp\'s production root', PRODUCTION_ROOT], ['a random root', randomBytes(32).toString('hex')]]) {
    const p = await probe(sim.wsUrl, key, 3);
    r.check(`trusting ${label}, our client refuses wasim's chain with the chain error`,
      p.code === 3 && p.result?.error_type === 'CertChainError', `exit ${p.code}: ${p.raw} ${p.stderr.slice(-500)}`);
    if (p.result?.error) r.note(`  ${label}: ${p.result.error}`);
  }
} finally {
  await sim.stop();
}
r.finish();
