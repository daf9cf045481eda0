#!/usr/bin/env node
// The Baileys side of bench/fleet's RSS ratio: N Baileys 7 sessions (default 100) paired with
// wasim's virtual phones and logged in, all in this one Node process, then left idle; prints the
// process's RSS with 1 and with N sessions and the difference per session.
//   node bench/fleet/baileys_rss.mjs --bin-dir BUILD/bin [--sessions 100]
// Run with tests/interop's node_modules installed (npm ci there); bench/fleet/run.sh calls it.
import { openPeer } from '../../tests/interop/lib/peer.mjs';
import { startWasim } from '../../tests/interop/lib/wasim.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const sessions = Number(arg('sessions', '100'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssKb = async () => {
  if (global.gc) { global.gc(); global.gc(); }
  await sleep(200);
  return Math.round(process.memoryUsage().rss / 1024);
};

const wasim = await startWasim();
const peers = [];
try {
  const open = async (i) => {
    const phone = `+1557${String(i).padStart(7, '0')}`;
    peers.push(await openPeer({ version: 7, wsUrl: wasim.wsUrl, adminUrl: wasim.adminUrl, phone,
      socketConfig: { shouldSyncHistoryMessage: () => false } }));
  };
  const base = await rssKb();
  await open(0);
  await sleep(5000);
  const one = await rssKb();
  const t0 = Date.now();
  // A few at a time: pairing is CPU-bound on this side and on wasim's.
  for (let i = 1; i < sessions; i += 5) {
    await Promise.all(Array.from({ length: Math.min(5, sessions - i) }, (_, k) => open(i + k)));
  }
  const loginMs = Date.now() - t0;
  await sleep(10000);  // idle: keepalives only
  const all = await rssKb();
  console.log(`baileys: ${peers.length} Baileys 7 sessions paired and logged in within one Node ${process.version} process (${loginMs} ms)`);
  console.log(`baileys: RSS before any session ${base} kB, with 1 session ${one} kB, with ${peers.length} sessions ${all} kB`);
  console.log(`baileys: RSS per idle logged-in session ${((all - one) / (peers.length - 1)).toFixed(1)} kB (gc ${global.gc ? 'forced' : 'not exposed'})`);
} finally {
  for (const p of peers) await p.end().catch(() => {});
  await wasim.stop();
}
process.exit(0);
